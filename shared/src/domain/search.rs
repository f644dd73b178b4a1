//! Logto's user search (`search`, `search.<field>`, `mode`, `mode.<field>`, `joint`,
//! `isCaseSensitive`), parsed once into conditions that both plan index lookups and decide,
//! row by row, what matches.

use fancy_regex::{Regex, RegexBuilder};

use crate::error::Error;

/// User-supplied patterns must not run away (ReDoS): bound their size and the engine's work.
pub const MAX_PATTERN_LEN: usize = 512;
pub const BACKTRACK_LIMIT: usize = 100_000;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Id,
    PrimaryEmail,
    PrimaryPhone,
    Username,
    Name,
}

impl Field {
    pub const ALL: [Field; 5] =
        [Field::Id, Field::PrimaryEmail, Field::PrimaryPhone, Field::Username, Field::Name];

    fn from_snake(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Field::Id,
            "primary_email" => Field::PrimaryEmail,
            "primary_phone" => Field::PrimaryPhone,
            "username" => Field::Username,
            "name" => Field::Name,
            _ => return None,
        })
    }
}

/// The searchable fields of one user: what the search indexes project.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchRow {
    pub id: String,
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub created_at: i64,
}

impl SearchRow {
    pub fn get(&self, field: Field) -> Option<&str> {
        match field {
            Field::Id => Some(&self.id),
            Field::PrimaryEmail => self.primary_email.as_deref(),
            Field::PrimaryPhone => self.primary_phone.as_deref(),
            Field::Username => self.username.as_deref(),
            Field::Name => self.name.as_deref(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Exact,
    Like,
    SimilarTo,
    Posix,
}

impl Mode {
    fn parse(value: &str, field: Option<&str>) -> Result<Self, Error> {
        Ok(match value {
            "exact" => Mode::Exact,
            "like" => Mode::Like,
            "similar_to" => Mode::SimilarTo,
            "posix" => Mode::Posix,
            _ => {
                let for_field = field.map(|f| format!(" for field `{f}`")).unwrap_or_default();
                return Err(Error::InvalidSearch(format!(
                    "Search match mode `{value}`{for_field} is not valid, expect one of exact, like, similar_to, posix."
                )));
            }
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Joint {
    Or,
    And,
}

/// How one condition tests a value.
#[derive(Debug)]
enum Matcher {
    /// Any of these values; lower-cased already when the search is case-insensitive.
    Exact(Vec<String>),
    Like(LikePattern),
    Regex(Regex),
}

/// What an index can answer for a condition: exact values or a literal prefix, lower-cased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexHint {
    Exact(Vec<String>),
    Prefix(String),
}

#[derive(Debug)]
pub struct Condition {
    /// `None`: the general `search` key, matched against every field.
    pub field: Option<Field>,
    matcher: Matcher,
    case_sensitive: bool,
}

impl Condition {
    pub fn fields(&self) -> Vec<Field> {
        self.field.map(|f| vec![f]).unwrap_or_else(|| Field::ALL.to_vec())
    }

    fn matches(&self, row: &SearchRow) -> Result<bool, Error> {
        for field in self.fields() {
            if let Some(value) = row.get(field)
                && self.matches_value(value)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn matches_value(&self, value: &str) -> Result<bool, Error> {
        let folded;
        let value = if self.case_sensitive {
            value
        } else {
            folded = value.to_lowercase();
            &folded
        };
        Ok(match &self.matcher {
            Matcher::Exact(values) => values.iter().any(|v| v == value),
            Matcher::Like(pattern) => pattern.matches(value),
            Matcher::Regex(regex) => regex
                .is_match(value)
                .map_err(|_| Error::InvalidSearch("The search pattern is too complex to evaluate.".into()))?,
        })
    }

    /// Exact values and literal prefixes can be served from the field indexes.
    pub fn index_hint(&self) -> Option<IndexHint> {
        let fold = |s: &str| s.to_lowercase();
        match &self.matcher {
            Matcher::Exact(values) => Some(IndexHint::Exact(values.iter().map(|v| fold(v)).collect())),
            Matcher::Like(pattern) => {
                let prefix = pattern.literal_prefix();
                (!prefix.is_empty()).then(|| IndexHint::Prefix(fold(&prefix)))
            }
            Matcher::Regex(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct Search {
    pub conditions: Vec<Condition>,
    pub joint: Joint,
}

impl Search {
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    pub fn matches(&self, row: &SearchRow) -> Result<bool, Error> {
        if self.conditions.is_empty() {
            return Ok(true);
        }
        for condition in &self.conditions {
            let hit = condition.matches(row)?;
            match self.joint {
                Joint::Or if hit => return Ok(true),
                Joint::And if !hit => return Ok(false),
                _ => {}
            }
        }
        Ok(self.joint == Joint::And)
    }

    /// Parses the raw query pairs (repeated keys kept, in order), as Logto does: keys starting
    /// with `search` are searches, with `mode` are modes; the part after the first `.` is the
    /// field, named in camelCase or snake_case.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, Error> {
        let case_sensitive =
            super::is_truthy(pairs.iter().find(|(k, _)| k == "isCaseSensitive").map(|(_, v)| v.as_str()));
        let joint_value = pairs
            .iter()
            .find(|(k, _)| k == "joint")
            .or_else(|| pairs.iter().find(|(k, _)| k == "jointMode"))
            .map(|(_, v)| v.as_str());
        let joint = match joint_value {
            None | Some("or") => Joint::Or,
            Some("and") => Joint::And,
            Some(other) => {
                return Err(Error::InvalidSearch(format!(
                    "Search joint mode `{other}` is not valid, expect one of or, and."
                )));
            }
        };

        // Modes: `mode` for all, `mode.<field>` for one field.
        let mut default_mode = Mode::Like;
        let mut field_modes: Vec<(String, Mode)> = Vec::new();
        for (key, value) in pairs.iter().filter(|(k, _)| k.starts_with("mode")) {
            match field_path(key)? {
                None => default_mode = Mode::parse(value, None)?,
                Some(field) => field_modes.push((field.clone(), Mode::parse(value, Some(&field))?)),
            }
        }

        // Searches, grouped by key in first-seen order.
        let mut groups: Vec<(Option<String>, Vec<&str>)> = Vec::new();
        for (key, value) in pairs.iter().filter(|(k, _)| k.starts_with("search")) {
            let field = field_path(key)?;
            match groups.iter_mut().find(|(f, _)| *f == field) {
                Some((_, values)) => values.push(value),
                None => groups.push((field, vec![value])),
            }
        }

        let mut conditions = Vec::with_capacity(groups.len());
        for (field_name, values) in groups {
            let field = match &field_name {
                None => None,
                Some(name) => Some(Field::from_snake(name).ok_or_else(|| {
                    Error::InvalidSearch(format!(
                        "Search field `{name}` is not valid, expect one of id, primary_email, primary_phone, username, name."
                    ))
                })?),
            };
            let mode = field_name
                .as_ref()
                .and_then(|name| field_modes.iter().rev().find(|(f, _)| f == name).map(|(_, m)| *m))
                .unwrap_or(default_mode);
            conditions.push(build_condition(field, mode, &values, case_sensitive)?);
        }
        Ok(Self { conditions, joint })
    }
}

/// The field named after the first `.` of a key (snake_cased), `None` for the general key.
fn field_path(key: &str) -> Result<Option<String>, Error> {
    let Some((_, path)) = key.split_once('.') else {
        return Ok(None);
    };
    if path.contains('.') {
        return Err(Error::InvalidSearch(format!(
            "Unsupported nested search field path `{path}` detected. Only the first level field is supported."
        )));
    }
    Ok(Some(to_snake_case(path)))
}

fn to_snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn build_condition(
    field: Option<Field>,
    mode: Mode,
    values: &[&str],
    case_sensitive: bool,
) -> Result<Condition, Error> {
    if values.iter().any(|v| v.is_empty()) {
        return Err(Error::InvalidSearch("Search value cannot be empty.".into()));
    }
    if mode != Mode::Exact && values.len() > 1 {
        return Err(Error::InvalidSearch(
            "Only one search value is allowed when search mode is not `exact`.".into(),
        ));
    }
    if mode == Mode::SimilarTo && !case_sensitive {
        return Err(Error::InvalidSearch("Cannot use case-insensitive match for `similar to`.".into()));
    }
    let fold = |v: &str| {
        if case_sensitive { v.to_string() } else { v.to_lowercase() }
    };
    let matcher = match mode {
        Mode::Exact => Matcher::Exact(values.iter().map(|v| fold(v)).collect()),
        Mode::Like => Matcher::Like(LikePattern::parse(&fold(values[0]))?),
        Mode::SimilarTo => Matcher::Regex(compile(&similar_to_regex(values[0])?, false)?),
        Mode::Posix => Matcher::Regex(compile(values[0], !case_sensitive)?),
    };
    Ok(Condition { field, matcher, case_sensitive })
}

fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, Error> {
    if pattern.len() > MAX_PATTERN_LEN {
        return Err(Error::InvalidSearch(format!(
            "The search pattern is longer than {MAX_PATTERN_LEN} characters."
        )));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .backtrack_limit(BACKTRACK_LIMIT)
        .delegate_size_limit(REGEX_SIZE_LIMIT)
        .delegate_dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| Error::InvalidSearch(format!("Invalid regular expression: {e}.")))
}

/// Postgres `SIMILAR TO` as an anchored regex: `%` → `.*`, `_` → `.`; `| * + ? {m,n} ( ) [ ]`
/// keep their regex meaning; `.`, `^`, `$` are literal; `\` escapes the next character.
fn similar_to_regex(pattern: &str) -> Result<String, Error> {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_bracket = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => push_literal(&mut out, escaped),
                None => return Err(trailing_escape()),
            },
            ']' if in_bracket => {
                in_bracket = false;
                out.push(c);
            }
            _ if in_bracket => out.push(c),
            '[' => {
                in_bracket = true;
                out.push(c);
            }
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            _ => push_literal(&mut out, c),
        }
    }
    out.push_str(")$");
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    out.push_str(&regex::escape(c.encode_utf8(&mut buf)));
}

fn trailing_escape() -> Error {
    Error::InvalidSearch("The search pattern must not end with an escape character.".into())
}

/// A SQL `LIKE` pattern: `%` any run, `_` any one character, `\` escapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern(Vec<LikeToken>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LikeToken {
    Char(char),
    One,
    Any,
}

impl LikePattern {
    pub fn parse(pattern: &str) -> Result<Self, Error> {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '\\' => LikeToken::Char(chars.next().ok_or_else(trailing_escape)?),
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                c => LikeToken::Char(c),
            });
        }
        Ok(Self(tokens))
    }

    pub fn literal_prefix(&self) -> String {
        self.0
            .iter()
            .map_while(|t| match t {
                LikeToken::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Greedy matching with one backtrack point (the last `%`): O(pattern × text), never
    /// exponential, so no pattern can stall a search.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let pattern = &self.0;
        let (mut p, mut t) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        while t < text.len() {
            match pattern.get(p) {
                Some(LikeToken::Any) => {
                    resume = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::One) => {
                    p += 1;
                    t += 1;
                }
                Some(LikeToken::Char(c)) if *c == text[t] => {
                    p += 1;
                    t += 1;
                }
                _ => match resume {
                    Some((star, matched)) => {
                        resume = Some((star, matched + 1));
                        p = star + 1;
                        t = matched + 1;
                    }
                    None => return false,
                },
            }
        }
        pattern[p..].iter().all(|token| *token == LikeToken::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    fn row(name: &str, email: &str) -> SearchRow {
        SearchRow {
            id: "abc123".into(),
            name: Some(name.into()),
            primary_email: Some(email.into()),
            ..Default::default()
        }
    }

    fn reason(query: &str) -> String {
        match Search::parse(&pairs(query)) {
            Err(Error::InvalidSearch(reason)) => reason,
            other => panic!("{query}: expected a search error, got {other:?}"),
        }
    }

    #[test]
    fn like_is_verbatim_and_case_insensitive_by_default() {
        let search = Search::parse(&pairs("search=tom")).unwrap();
        assert!(search.matches(&row("TOM", "x@y.z")).unwrap());
        assert!(!search.matches(&row("tommy", "x@y.z")).unwrap());
        let search = Search::parse(&pairs("search=%25tom%25")).unwrap();
        assert!(search.matches(&row("big tommy", "x@y.z")).unwrap());
        let search = Search::parse(&pairs("search=t_m&isCaseSensitive=true")).unwrap();
        assert!(search.matches(&row("tim", "")).unwrap() && !search.matches(&row("Tim", "")).unwrap());
    }

    #[test]
    fn like_matcher_handles_escapes_and_backtracking() {
        let p = LikePattern::parse(r"a\%b%c").unwrap();
        assert!(p.matches("a%bxxc") && !p.matches("axbxxc"));
        assert!(LikePattern::parse("%a%b%").unwrap().matches("xxaxxbxx"));
        assert!(!LikePattern::parse("%a%b").unwrap().matches("xxaxxbxx"));
        assert_eq!(LikePattern::parse("ab_c%").unwrap().literal_prefix(), "ab");
        let long = "a".repeat(5000);
        assert!(!LikePattern::parse(&"%a".repeat(50)).unwrap().matches(&(long + "b")));
    }

    #[test]
    fn joint_and_fields() {
        let and = Search::parse(&pairs("search.name=al%25&search.primaryEmail=%25@x.io&joint=and")).unwrap();
        assert!(and.matches(&row("alice", "a@x.io")).unwrap());
        assert!(!and.matches(&row("alice", "a@y.io")).unwrap());
        let or = Search::parse(&pairs("search.name=al%25&search.primary_email=%25@x.io")).unwrap();
        assert!(or.matches(&row("bob", "b@x.io")).unwrap());
    }

    #[test]
    fn exact_takes_several_values() {
        let s = Search::parse(&pairs(
            "search.primaryEmail=A@x.io&search.primaryEmail=b@x.io&mode.primaryEmail=exact",
        ))
        .unwrap();
        assert!(s.matches(&row("", "a@X.io")).unwrap());
        assert!(!s.matches(&row("", "c@x.io")).unwrap());
        assert_eq!(
            s.conditions[0].index_hint(),
            Some(IndexHint::Exact(vec!["a@x.io".into(), "b@x.io".into()]))
        );
    }

    #[test]
    fn similar_to_and_posix() {
        let s = Search::parse(&pairs("search.name=(al|bo)%25&mode=similar_to&isCaseSensitive=true")).unwrap();
        assert!(s.matches(&row("bob", "")).unwrap() && !s.matches(&row("xbob", "")).unwrap());
        let dot = Search::parse(&pairs("search.name=a.c&mode=similar_to&isCaseSensitive=true")).unwrap();
        assert!(dot.matches(&row("a.c", "")).unwrap() && !dot.matches(&row("abc", "")).unwrap());
        let lookahead = Search::parse(&pairs("search.name=^(?!admin).*$&mode=posix")).unwrap();
        assert!(lookahead.matches(&row("alice", "")).unwrap());
        assert!(!lookahead.matches(&row("ADMINistrator", "")).unwrap());
    }

    #[test]
    fn logto_error_messages() {
        assert_eq!(reason("search="), "Search value cannot be empty.");
        assert_eq!(
            reason("search=a&search=b"),
            "Only one search value is allowed when search mode is not `exact`."
        );
        assert_eq!(
            reason("search=a&mode=fuzzy"),
            "Search match mode `fuzzy` is not valid, expect one of exact, like, similar_to, posix."
        );
        assert_eq!(
            reason("search.name=a&mode.name=fuzzy"),
            "Search match mode `fuzzy` for field `name` is not valid, expect one of exact, like, similar_to, posix."
        );
        assert_eq!(
            reason("search=a&joint=xor"),
            "Search joint mode `xor` is not valid, expect one of or, and."
        );
        assert_eq!(
            reason("search.email=a"),
            "Search field `email` is not valid, expect one of id, primary_email, primary_phone, username, name."
        );
        assert_eq!(
            reason("search.name.first=a"),
            "Unsupported nested search field path `name.first` detected. Only the first level field is supported."
        );
        assert_eq!(reason("search=a&mode=similar_to"), "Cannot use case-insensitive match for `similar to`.");
    }

    #[test]
    fn pathological_patterns_are_refused_quickly() {
        let started = std::time::Instant::now();
        let s = Search::parse(&pairs("search.name=(a%2B)%2B$&mode=posix")).unwrap();
        let evil = row(&format!("{}!", "a".repeat(40)), "");
        // The backtracking regex crate falls back to linear matching here; either it answers
        // or it hits the limit, but it never hangs.
        let _ = s.matches(&evil);
        let backref = Search::parse(&pairs("search.name=(a*)*\\1b&mode=posix")).unwrap();
        assert!(matches!(backref.matches(&evil), Err(Error::InvalidSearch(_)) | Ok(false)));
        assert!(started.elapsed().as_secs() < 2);
        assert!(reason(&format!("search.name={}&mode=posix", "a".repeat(600))).contains("longer than"));
    }
}
