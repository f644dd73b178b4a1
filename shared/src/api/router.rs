//! Method + path routing with `{param}` segments: 404 `guard.route_not_found` for an unknown
//! path, 405 with `Allow` for a known path and another method.

use lambda_http::http::Method;
use percent_encoding::percent_decode_str;

use crate::error::Error;

/// Path parameters, percent-decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// One route: method, path pattern, and what the router answers for it (an endpoint, or an
/// endpoint with the scope it needs).
pub type Route<E> = (Method, &'static str, E);

pub struct Router<E: Copy> {
    routes: Vec<(Method, Vec<&'static str>, E)>,
    patterns: Vec<(Method, &'static str)>,
}

impl<E: Copy> Router<E> {
    /// Routes as `(method, "/api/users/{userId}", endpoint)`.
    pub fn new(table: &[Route<E>]) -> Self {
        let routes = table
            .iter()
            .map(|(method, pattern, endpoint)| (method.clone(), segments(pattern), *endpoint))
            .collect();
        let patterns = table.iter().map(|(method, pattern, _)| (method.clone(), *pattern)).collect();
        Self { routes, patterns }
    }

    /// Every `(method, pattern)` this router serves.
    pub fn routes(&self) -> &[(Method, &'static str)] {
        &self.patterns
    }

    /// The route's value and its path parameters.
    pub fn find(&self, method: &Method, path: &str) -> Result<(E, Params), Error> {
        let path: Vec<&str> = segments(path);
        let mut allow = Vec::new();
        for (route_method, pattern, endpoint) in &self.routes {
            let Some(params) = match_path(pattern, &path) else {
                continue;
            };
            if route_method == method {
                return Ok((*endpoint, params));
            }
            allow.push(route_method.as_str());
        }
        if allow.is_empty() {
            Err(Error::RouteNotFound)
        } else {
            let allow = allow.into_iter().map(static_method).collect();
            Err(Error::MethodNotAllowed { allow })
        }
    }
}

/// The pattern among `routes` that `path` matches, whatever the method (for the access line:
/// the route, never the raw path with its ids).
pub fn pattern_of(routes: &[(Method, &'static str)], path: &str) -> Option<&'static str> {
    let path = segments(path);
    routes.iter().map(|(_, pattern)| *pattern).find(|pattern| match_path(&segments(pattern), &path).is_some())
}

fn static_method(method: &str) -> &'static str {
    ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
        .into_iter()
        .find(|m| *m == method)
        .unwrap_or("GET")
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').filter(|s| !s.is_empty()).collect()
}

fn match_path(pattern: &[&'static str], path: &[&str]) -> Option<Params> {
    if pattern.len() != path.len() {
        return None;
    }
    let mut params = Vec::new();
    for (expected, actual) in pattern.iter().zip(path) {
        match expected.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => params.push((name, percent_decode_str(actual).decode_utf8().ok()?.into_owned())),
            None if expected == actual => {}
            None => return None,
        }
    }
    Some(Params(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum E {
        List,
        Get,
        Delete,
        Verify,
    }

    fn router() -> Router<E> {
        Router::new(&[
            (Method::GET, "/api/users", E::List),
            (Method::GET, "/api/users/{userId}", E::Get),
            (Method::DELETE, "/api/users/{userId}", E::Delete),
            (Method::POST, "/api/users/{userId}/password/verify", E::Verify),
        ])
    }

    #[test]
    fn matches_params_and_decodes_them() {
        let (e, params) = router().find(&Method::GET, "/api/users/ab%2Fc").unwrap();
        assert_eq!(e, E::Get);
        assert_eq!(params.get("userId"), "ab/c");
        assert_eq!(router().find(&Method::POST, "/api/users/x/password/verify").unwrap().0, E::Verify);
        assert_eq!(router().find(&Method::GET, "/api/users/").unwrap().0, E::List);
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        assert!(matches!(router().find(&Method::GET, "/api/nope"), Err(Error::RouteNotFound)));
        match router().find(&Method::PUT, "/api/users/x") {
            Err(Error::MethodNotAllowed { allow }) => assert_eq!(allow, vec!["GET", "DELETE"]),
            other => panic!("{other:?}"),
        }
    }
}
