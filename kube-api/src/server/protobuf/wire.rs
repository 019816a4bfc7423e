//! The protobuf wire format: varints, tags and length-delimited fields.

/// Errors reading the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ends inside a field.
    #[error("unexpected end of message")]
    Truncated,
    /// A varint is longer than 10 bytes.
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A tag has field number 0 or a wire type that is not used (groups, 6, 7).
    #[error("invalid tag {0}")]
    InvalidTag(u64),
}

/// The payload of one field, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Payload<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: strings, bytes, messages, packed scalars.
    Bytes(&'a [u8]),
    /// Wire type 5.
    Fixed32(u32),
}

/// Reads the fields of one message in wire order.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    /// Reads the fields of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        read_varint(&mut self.buf)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<(u32, Payload<'a>), WireError> {
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3).map_err(|_| WireError::InvalidTag(tag))?;
        if number == 0 {
            return Err(WireError::InvalidTag(tag));
        }
        let payload = match tag & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => Payload::Fixed64(u64::from_le_bytes(fixed(self.take(8)?))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                Payload::Bytes(self.take(len)?)
            }
            5 => Payload::Fixed32(u32::from_le_bytes(fixed(self.take(4)?))),
            _ => return Err(WireError::InvalidTag(tag)),
        };
        Ok((number, payload))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Payload<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let field = self.field();
        if field.is_err() {
            // Stop after the first error: the rest cannot be framed.
            self.buf = &[];
        }
        Some(field)
    }
}

/// Reads a varint from the front of `buf`, advancing it.
pub fn read_varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    if buf.len() >= 10 {
        Err(WireError::VarintOverflow)
    } else {
        Err(WireError::Truncated)
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // 1: varint 300; 2: "hi"; 3: fixed64 1; 4: fixed32 2.
        let buf = [
            0x08, 0xac, 0x02, 0x12, 2, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0,
        ];
        let fields: Vec<_> = Fields::new(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            fields,
            vec![
                (1, Payload::Varint(300)),
                (2, Payload::Bytes(b"hi")),
                (3, Payload::Fixed64(1)),
                (4, Payload::Fixed32(2)),
            ]
        );
    }

    #[test]
    fn truncated_and_invalid_input_fail() {
        assert_eq!(
            Fields::new(&[0x12, 5, b'a']).next(),
            Some(Err(WireError::Truncated))
        );
        assert_eq!(
            Fields::new(&[0x0b]).next(),
            Some(Err(WireError::InvalidTag(0x0b)))
        );
        assert_eq!(
            Fields::new(&[0x08, 0xff]).next(),
            Some(Err(WireError::Truncated))
        );
        assert_eq!(
            read_varint(&mut &[0xff; 11][..]),
            Err(WireError::VarintOverflow)
        );
    }
}
