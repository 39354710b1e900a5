//! The bearer token that guards every route but `/healthz`.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A token kept only as its SHA-256 digest.
pub(crate) struct Token([u8; 32]);

impl Token {
    pub(crate) fn new(token: &str) -> Self {
        Token(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares SHA-256 digests in constant time: neither the token's bytes nor its length leak
    /// through timing.
    pub(crate) fn admits(&self, headers: &HeaderMap) -> bool {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .unwrap_or("");
        let got: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        bool::from(got.ct_eq(&self.0))
    }
}

/// The 401 that asks for the token.
pub(crate) fn challenge() -> Response {
    let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong bearer token (Authorization: Bearer <token>)")
        .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_bearer_scheme_with_the_exact_token_is_admitted() {
        let token = Token::new("s3cret");
        assert!(token.admits(&with_auth("Bearer s3cret")));
        assert!(token.admits(&with_auth("bearer  s3cret ")));
        assert!(!token.admits(&with_auth("Bearer s3cre")));
        assert!(!token.admits(&with_auth("Basic s3cret")));
        assert!(!token.admits(&with_auth("s3cret")));
        assert!(!token.admits(&HeaderMap::new()));
    }

    #[test]
    fn the_challenge_is_a_401_that_names_the_scheme() {
        let r = challenge();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
