//! What handlers take from a request besides its body: the bearer token, and the [`Actor`]
//! the route guard ([`crate::transport::http::routes::guard`]) authenticated.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::domain::actor::Actor;
use crate::transport::http::ApiError;

/// The token of an `Authorization: Bearer` header, if any.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Handlers take the caller the route guard ([`crate::transport::http::routes::guard`])
/// authenticated and admitted; a handler on a route without a guard fails loudly rather than
/// running unauthenticated.
impl FromRequest for Actor {
    type Error = ApiError;
    type Future = Ready<Result<Actor, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(req.extensions().get::<Actor>().cloned().ok_or_else(|| {
            ApiError::internal("a handler asked for a caller on an unguarded route")
        }))
    }
}
