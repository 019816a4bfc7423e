//! Label selectors: upstream's string syntax (`app=web,tier in (a,b),!canary`) and
//! metav1.LabelSelector, matched against an object's labels.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as ApiLabelSelector;

use crate::validation::name::{is_qualified_name, is_valid_label_value};

/// Where in the input a selector error sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    /// A byte offset into a selector string.
    Offset(usize),
    /// The `matchLabels` of a metav1.LabelSelector.
    MatchLabels,
    /// An entry of the `matchExpressions` of a metav1.LabelSelector.
    MatchExpression(usize),
    /// A requirement built in code.
    Unspecified,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offset(offset) => write!(f, " at position {offset}"),
            Self::MatchLabels => f.write_str(" in matchLabels"),
            Self::MatchExpression(i) => write!(f, " in matchExpressions[{i}]"),
            Self::Unspecified => Ok(()),
        }
    }
}

/// Why a label selector could not be parsed or built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The string has a token the grammar does not allow at this point.
    #[error(
        "unable to parse requirement: found {found} at position {position}, expected: {expected}"
    )]
    Syntax {
        /// What was found: a quoted token or `end of string`.
        found: String,
        /// Its byte offset.
        position: usize,
        /// What the grammar allows here.
        expected: &'static str,
    },
    /// A key that is not a qualified name.
    #[error("invalid label key {key:?}{location}: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// Where it is.
        location: Location,
        /// Upstream's messages, joined with `; `.
        reason: String,
    },
    /// A value that is not a valid label value.
    #[error("invalid value {value:?} for label key {key:?}{location}: {reason}")]
    InvalidValue {
        /// The key the value belongs to.
        key: String,
        /// The value.
        value: String,
        /// Where it is.
        location: Location,
        /// Upstream's messages, joined with `; `.
        reason: String,
    },
    /// The number or form of the values does not suit the operator.
    #[error("invalid values for label key {key:?}{location}: {reason}")]
    InvalidValues {
        /// The key.
        key: String,
        /// Where it is.
        location: Location,
        /// Upstream's message.
        reason: &'static str,
    },
    /// A metav1.LabelSelector operator other than In, NotIn, Exists and DoesNotExist.
    #[error("{operator:?} is not a valid label selector operator{location}")]
    InvalidOperator {
        /// The operator given.
        operator: String,
        /// Where it is.
        location: Location,
    },
}

/// The operator of one [`Requirement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    /// `key=value`.
    Equals,
    /// `key==value` (the same as `=`).
    DoubleEquals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>5`: the label is an integer greater than the value.
    GreaterThan,
    /// `key<5`: the label is an integer less than the value.
    LessThan,
}

/// One term of a selector: a key, an operator and the values it compares with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: BTreeSet<String>,
}

impl Requirement {
    /// A requirement, validated as upstream's `NewRequirement`: the key is a qualified
    /// name, values are label values, `=`/`==`/`!=`/`>`/`<` take one value (an integer for
    /// `>` and `<`), `in`/`notin` at least one, exists/does-not-exist none.
    pub fn new<I, S>(key: &str, operator: Operator, values: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<(String, Location)> = values
            .into_iter()
            .map(|v| (v.into(), Location::Unspecified))
            .collect();
        Self::build(key, Location::Unspecified, operator, values)
    }

    fn build(
        key: &str,
        key_location: Location,
        operator: Operator,
        values: Vec<(String, Location)>,
    ) -> Result<Self, Error> {
        let reasons = is_qualified_name(key);
        if !reasons.is_empty() {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                location: key_location,
                reason: reasons.join("; "),
            });
        }
        let invalid_values = |reason| Error::InvalidValues {
            key: key.to_owned(),
            location: key_location,
            reason,
        };
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(invalid_values(
                    "for 'in', 'notin' operators, values set can't be empty",
                ));
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                return Err(invalid_values(
                    "exact-match compatibility requires one single value",
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(invalid_values(
                    "values set must be empty for exists and does not exist",
                ));
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    return Err(invalid_values(
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                if values.iter().any(|(v, _)| v.parse::<i64>().is_err()) {
                    return Err(invalid_values(
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    ));
                }
            }
            _ => {}
        }
        for (value, location) in &values {
            let reasons = is_valid_label_value(value);
            if !reasons.is_empty() {
                return Err(Error::InvalidValue {
                    key: key.to_owned(),
                    value: value.clone(),
                    location: *location,
                    reason: reasons.join("; "),
                });
            }
        }
        Ok(Self {
            key: key.to_owned(),
            operator,
            values: values.into_iter().map(|(v, _)| v).collect(),
        })
    }

    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted.
    pub fn values(&self) -> &BTreeSet<String> {
        &self.values
    }

    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let label = labels.get(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                label.is_some_and(|v| self.values.contains(v))
            }
            Operator::NotIn | Operator::NotEquals => label.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => label.is_some(),
            Operator::DoesNotExist => label.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(label), Some(bound)) = (
                    label.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    label > bound
                } else {
                    label < bound
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in ",
            Operator::NotIn => " notin ",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        let values = self.values.iter().cloned().collect::<Vec<_>>().join(",");
        match self.operator {
            Operator::In | Operator::NotIn => write!(f, "{op}({values})"),
            _ => write!(f, "{op}{values}"),
        }
    }
}

/// A label selector: every requirement must hold.
///
/// [`LabelSelector::everything`] (no requirements) selects every object and
/// [`LabelSelector::nothing`] selects none, as upstream's empty and nil
/// metav1.LabelSelector. Display prints the canonical string (requirements sorted by key,
/// values sorted), which parses back to an equal selector; `nothing()` prints as the empty
/// string, as upstream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    nothing: bool,
}

impl LabelSelector {
    /// Selects every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Selects no object.
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            nothing: true,
        }
    }

    /// A selector from requirements; their order does not matter.
    pub fn from_requirements(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        let mut requirements: Vec<Requirement> = requirements.into_iter().collect();
        requirements.sort();
        requirements.dedup();
        Self {
            requirements,
            nothing: false,
        }
    }

    /// A selector that requires each label to equal the given value (upstream's
    /// `SelectorFromSet`).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Result<Self, Error> {
        labels
            .iter()
            .map(|(k, v)| Requirement::new(k, Operator::Equals, [v.as_str()]))
            .collect::<Result<Vec<_>, _>>()
            .map(Self::from_requirements)
    }

    /// Converts a metav1.LabelSelector; `None` (a nil selector) selects nothing, an empty
    /// one everything.
    pub fn from_api(selector: Option<&ApiLabelSelector>) -> Result<Self, Error> {
        match selector {
            None => Ok(Self::nothing()),
            Some(selector) => Self::try_from(selector),
        }
    }

    /// Parses upstream's string syntax.
    pub fn parse(input: &str) -> Result<Self, Error> {
        Parser::new(input).parse().map(Self::from_requirements)
    }

    /// Adds a requirement.
    pub fn add(&mut self, requirement: Requirement) {
        if let Err(at) = self.requirements.binary_search(&requirement) {
            self.requirements.insert(at, requirement);
        }
    }

    /// The requirements, sorted.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for a selector with no requirements (which selects everything); false for
    /// [`LabelSelector::nothing`].
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// True for [`LabelSelector::nothing`].
    pub fn selects_nothing(&self) -> bool {
        self.nothing
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The single value the selector requires `key` to have, if it requires one (upstream's
    /// `RequiresExactMatch`), for index lookups.
    pub fn requires_exact_match(&self, key: &str) -> Option<&str> {
        self.requirements.iter().find_map(|r| match r.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In
                if r.key == key && r.values.len() == 1 =>
            {
                r.values.first().map(String::as_str)
            }
            _ => None,
        })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl FromStr for LabelSelector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&ApiLabelSelector> for LabelSelector {
    type Error = Error;

    fn try_from(selector: &ApiLabelSelector) -> Result<Self, Self::Error> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::build(
                key,
                Location::MatchLabels,
                Operator::Equals,
                vec![(value.clone(), Location::MatchLabels)],
            )?);
        }
        for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
            let location = Location::MatchExpression(i);
            let operator = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(Error::InvalidOperator {
                        operator: other.to_owned(),
                        location,
                    });
                }
            };
            let values = expr
                .values
                .iter()
                .flatten()
                .map(|v| (v.clone(), location))
                .collect();
            requirements.push(Requirement::build(&expr.key, location, operator, values)?);
        }
        Ok(Self::from_requirements(requirements))
    }
}

impl TryFrom<ApiLabelSelector> for LabelSelector {
    type Error = Error;

    fn try_from(selector: ApiLabelSelector) -> Result<Self, Self::Error> {
        Self::try_from(&selector)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    End,
    OpenPar,
    ClosedPar,
    Comma,
    DoesNotExist,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    Identifier,
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    position: usize,
}

impl Token<'_> {
    fn describe(&self) -> String {
        if self.kind == Kind::End {
            "end of string".to_owned()
        } else {
            format!("'{}'", self.text)
        }
    }
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// Splits the input as upstream's lexer: whitespace separates, special symbols stand
/// alone (`!=` and `==` taken greedily), anything else runs into an identifier.
fn lex(input: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if is_whitespace(c) {
            continue;
        }
        if is_special(c) {
            let doubled = matches!(c, '!' | '=') && chars.peek().is_some_and(|&(_, n)| n == '=');
            let (kind, len) = match c {
                '!' if doubled => (Kind::NotEquals, 2),
                '=' if doubled => (Kind::DoubleEquals, 2),
                '!' => (Kind::DoesNotExist, 1),
                '=' => (Kind::Equals, 1),
                '(' => (Kind::OpenPar, 1),
                ')' => (Kind::ClosedPar, 1),
                ',' => (Kind::Comma, 1),
                '>' => (Kind::GreaterThan, 1),
                _ => (Kind::LessThan, 1),
            };
            if doubled {
                chars.next();
            }
            tokens.push(Token {
                kind,
                text: &input[start..start + len],
                position: start,
            });
            continue;
        }
        let mut end = input.len();
        while let Some(&(i, n)) = chars.peek() {
            if is_whitespace(n) || is_special(n) {
                end = i;
                break;
            }
            chars.next();
        }
        tokens.push(Token {
            kind: Kind::Identifier,
            text: &input[start..end],
            position: start,
        });
    }
    tokens.push(Token {
        kind: Kind::End,
        text: "",
        position: input.len(),
    });
    tokens
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    next: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Self {
            tokens: lex(input),
            next: 0,
        }
    }

    fn peek(&self) -> Token<'a> {
        self.tokens
            .get(self.next)
            .or(self.tokens.last())
            .copied()
            .unwrap_or(Token {
                kind: Kind::End,
                text: "",
                position: 0,
            })
    }

    fn consume(&mut self) -> Token<'a> {
        let token = self.peek();
        self.next += 1;
        token
    }

    fn parse(mut self) -> Result<Vec<Requirement>, Error> {
        let mut requirements = Vec::new();
        loop {
            let token = self.peek();
            match token.kind {
                Kind::Identifier | Kind::DoesNotExist => {
                    requirements.push(self.parse_requirement()?);
                    let token = self.consume();
                    match token.kind {
                        Kind::End => return Ok(requirements),
                        Kind::Comma => {
                            let next = self.peek();
                            if !matches!(next.kind, Kind::Identifier | Kind::DoesNotExist) {
                                return Err(syntax(next, "identifier after ','"));
                            }
                        }
                        _ => return Err(syntax(token, "',' or end of string")),
                    }
                }
                Kind::End => return Ok(requirements),
                _ => return Err(syntax(token, "'!', identifier, or end of string")),
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, Error> {
        let mut token = self.consume();
        let negated = token.kind == Kind::DoesNotExist;
        if negated {
            token = self.consume();
        }
        if token.kind != Kind::Identifier {
            return Err(syntax(token, "identifier"));
        }
        let key = token.text;
        let key_location = Location::Offset(token.position);
        if negated {
            return Requirement::build(key, key_location, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek().kind, Kind::End | Kind::Comma) {
            return Requirement::build(key, key_location, Operator::Exists, Vec::new());
        }
        // Check the key before the operator, so a bad key is reported first.
        let reasons = is_qualified_name(key);
        if !reasons.is_empty() {
            return Err(Error::InvalidKey {
                key: key.to_owned(),
                location: key_location,
                reason: reasons.join("; "),
            });
        }
        let operator = self.parse_operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::build(key, key_location, operator, values)
    }

    fn parse_operator(&mut self) -> Result<Operator, Error> {
        let token = self.consume();
        Ok(match (token.kind, token.text) {
            (Kind::Identifier, "in") => Operator::In,
            (Kind::Identifier, "notin") => Operator::NotIn,
            (Kind::Equals, _) => Operator::Equals,
            (Kind::DoubleEquals, _) => Operator::DoubleEquals,
            (Kind::NotEquals, _) => Operator::NotEquals,
            (Kind::GreaterThan, _) => Operator::GreaterThan,
            (Kind::LessThan, _) => Operator::LessThan,
            _ => {
                return Err(syntax(
                    token,
                    "one of 'in', 'notin', '=', '==', '!=', '>', '<'",
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<(String, Location)>, Error> {
        let token = self.consume();
        if token.kind != Kind::OpenPar {
            return Err(syntax(token, "'('"));
        }
        let next = self.peek();
        match next.kind {
            Kind::Identifier | Kind::Comma => {
                let values = self.parse_identifier_list()?;
                let token = self.consume();
                if token.kind != Kind::ClosedPar {
                    return Err(syntax(token, "')'"));
                }
                Ok(values)
            }
            // `()` stands for the empty value, as upstream.
            Kind::ClosedPar => {
                self.consume();
                Ok(vec![(String::new(), Location::Offset(next.position))])
            }
            _ => Err(syntax(next, "',', ')' or identifier")),
        }
    }

    fn parse_identifier_list(&mut self) -> Result<Vec<(String, Location)>, Error> {
        let mut values: Vec<(String, Location)> = Vec::new();
        let empty = |position| (String::new(), Location::Offset(position));
        loop {
            let token = self.consume();
            match token.kind {
                Kind::Identifier => {
                    values.push((token.text.to_owned(), Location::Offset(token.position)));
                    let next = self.peek();
                    match next.kind {
                        Kind::Comma => continue,
                        Kind::ClosedPar => return Ok(values),
                        _ => return Err(syntax(next, "',' or ')'")),
                    }
                }
                // Empty entries (`(,a)`, `(a,)`, `(a,,b)`) are the empty value.
                Kind::Comma => {
                    if values.is_empty() {
                        values.push(empty(token.position));
                    }
                    let next = self.peek();
                    if next.kind == Kind::ClosedPar {
                        values.push(empty(next.position));
                        return Ok(values);
                    }
                    if next.kind == Kind::Comma {
                        self.consume();
                        values.push(empty(next.position));
                    }
                }
                _ => return Err(syntax(token, "',' or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<(String, Location)>, Error> {
        let next = self.peek();
        if matches!(next.kind, Kind::End | Kind::Comma) {
            return Ok(vec![(String::new(), Location::Offset(next.position))]);
        }
        let token = self.consume();
        if token.kind == Kind::Identifier {
            Ok(vec![(
                token.text.to_owned(),
                Location::Offset(token.position),
            )])
        } else {
            Err(syntax(token, "identifier"))
        }
    }
}

fn syntax(token: Token<'_>, expected: &'static str) -> Error {
    Error::Syntax {
        found: token.describe(),
        position: token.position,
        expected,
    }
}
