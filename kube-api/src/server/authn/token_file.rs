//! The static token file (upstream's `--token-auth-file`): CSV lines
//! `token,user,uid,"group1,group2"`, the groups column optional.

use std::collections::BTreeMap;
use std::path::Path;

use super::bearer::TokenAuthenticator;
use super::{Result as AuthResult, UserInfo};

/// The result of loading a token file.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors of loading a token file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be read.
    #[error("reading the token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The reason.
        #[source]
        source: std::io::Error,
    },
    /// A record has fewer than three columns.
    #[error(
        "token file record {record} must have at least 3 columns (token, user name, user uid), \
         found {found}"
    )]
    TooFewColumns {
        /// The record's number, from 1.
        record: usize,
        /// How many columns it has.
        found: usize,
    },
    /// A quoted field is not closed.
    #[error("token file record {record}: a quoted field is not closed")]
    UnclosedQuote {
        /// The record's number, from 1.
        record: usize,
    },
}

/// The users of a token file, by token.
#[derive(Clone, Default)]
pub struct TokenFile {
    tokens: BTreeMap<String, UserInfo>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("TokenFile")
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl TokenFile {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses token file text. Blank lines are skipped, records with an empty token are
    /// skipped, and a repeated token keeps its last record (as upstream, which warns).
    pub fn parse(text: &str) -> Result<Self> {
        let mut tokens = BTreeMap::new();
        let mut record = 0;
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            record += 1;
            let fields = parse_record(line).ok_or(Error::UnclosedQuote { record })?;
            if fields.len() < 3 {
                return Err(Error::TooFewColumns {
                    record,
                    found: fields.len(),
                });
            }
            if fields[0].is_empty() {
                tracing::warn!(record, "empty token in the token file");
                continue;
            }
            let groups = fields
                .get(3)
                .map(|g| g.split(',').map(str::to_owned).collect())
                .unwrap_or_default();
            let user = UserInfo {
                name: fields[1].clone(),
                uid: fields[2].clone(),
                groups,
                extra: BTreeMap::new(),
            };
            if tokens.insert(fields[0].clone(), user).is_some() {
                tracing::warn!(record, "duplicate token in the token file");
            }
        }
        Ok(Self { tokens })
    }

    /// How many tokens the file holds.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the file holds no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// One CSV record (RFC 4180 quoting, leading spaces of fields trimmed as upstream's reader
/// does), or `None` for an unclosed quote.
fn parse_record(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => break,
                    c => field.push(c),
                }
            }
            // Anything between the closing quote and the comma is kept, leniently.
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Some(fields);
        }
    }
}

#[async_trait::async_trait]
impl TokenAuthenticator for TokenFile {
    async fn authenticate_token(&self, token: &str) -> AuthResult<Option<UserInfo>> {
        Ok(self.tokens.get(token).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_records() {
        let file = TokenFile::parse(
            "t1,jane,u1,\"dev,ops\"\n\n t2, bob,u2\nt3,carol,u3,solo,extra\n,nobody,u4\n",
        )
        .unwrap();
        assert_eq!(file.len(), 3);
        let jane = &file.tokens["t1"];
        assert_eq!((jane.name.as_str(), jane.uid.as_str()), ("jane", "u1"));
        assert_eq!(jane.groups, ["dev", "ops"]);
        assert_eq!(file.tokens["t2"].name, "bob");
        assert!(file.tokens["t2"].groups.is_empty());
        assert_eq!(file.tokens["t3"].groups, ["solo"]);
    }

    #[test]
    fn refuses_short_records_and_open_quotes() {
        assert!(matches!(
            TokenFile::parse("ok,a,b\nt,user\n"),
            Err(Error::TooFewColumns {
                record: 2,
                found: 2
            })
        ));
        assert!(matches!(
            TokenFile::parse("t,u,i,\"g1,g2\n"),
            Err(Error::UnclosedQuote { record: 1 })
        ));
        assert!(TokenFile::parse("t,u,i,\"g\"\"1\"\n").unwrap().tokens["t"].groups == ["g\"1"]);
    }

    #[tokio::test]
    async fn knows_only_its_tokens() {
        let file = TokenFile::parse("secret,jane,u1\n").unwrap();
        assert_eq!(
            file.authenticate_token("secret")
                .await
                .unwrap()
                .unwrap()
                .name,
            "jane"
        );
        assert!(file.authenticate_token("other").await.unwrap().is_none());
        assert!(!format!("{file:?}").contains("secret"));
    }
}
