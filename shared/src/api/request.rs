//! Reading requests: the raw query (repeated keys kept) and the size-checked body.

use lambda_http::Request;

use crate::error::Error;

/// Bodies over this are refused with 413 before any parsing (compatibility §3).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The query string's pairs in order, repeated keys preserved (search needs them).
#[derive(Debug, Default, Clone)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn from_request(request: &Request) -> Self {
        Self::parse(request.uri().query().unwrap_or_default())
    }

    pub fn parse(query: &str) -> Self {
        Self(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn first(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    pub fn flag(&self, key: &str) -> bool {
        crate::domain::is_truthy(self.first(key))
    }

    /// The query without `keys`, as a stable string (for binding page tokens to a query).
    pub fn without(&self, keys: &[&str]) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| !keys.contains(&k.as_str())) {
            out.append_pair(k, v);
        }
        out.finish()
    }

    /// The query with `page` set to `page`, for `Link` URLs.
    pub fn with_page(&self, page: u64) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "page") {
            out.append_pair(k, v);
        }
        out.append_pair("page", &page.to_string());
        out.finish()
    }
}

/// The body's bytes, refused when larger than [`MAX_BODY_BYTES`].
pub fn body_bytes(request: &Request) -> Result<&[u8], Error> {
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Error::BodyTooLarge);
    }
    Ok(bytes)
}
