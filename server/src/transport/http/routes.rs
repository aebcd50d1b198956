//! The route table: one list that the router registers and the permission-matrix test walks,
//! so a route cannot be added without saying who may call it and what an API key needs.
//!
//! [`register`] wraps every route in [`guard`]: it authenticates the caller, enforces the
//! route's [`Access`] class that needs no object (public, session, administrator) and its
//! [`KeyRule`], and hands the admitted [`Actor`] to the handler. A handler cannot forget the
//! check: the [`Actor`] extractor only takes what the guard admitted. Object-level rights
//! (may this caller see device `{id}`, handle alarm `{alarm_id}`) are decided where the object
//! is loaded ([`crate::services::access::visible_device`] and friends), so an invisible object answers 404.
//!
//! Size: over 600 lines because the table (~100 routes, one entry of 8–10 lines each) is kept
//! in one list on purpose: reviewing who may call what means reading it top to bottom.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpMessage, Route, web};

use super::{ApiError, AppState};
use crate::services::access::{self, Actor, Forbidden, KeyRule, Scope};

use super::handlers::{
    alarms, auth, commands, devices, events, fences, keys, linkage, places, stats, trajectory,
    units, users,
};
use crate::transport::http::handlers::push;
use crate::transport::http::handlers::stream;
use crate::transport::http::handlers::webhooks;
use crate::transport::http::traccar;

/// HTTP method of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Who may call a route ([`guard`] enforces the classes that need no object; the handler
/// the others, through [`crate::services::access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token.
    Public,
    /// Any authenticated caller; lists are filtered to what the caller may see.
    Authenticated,
    /// Any caller with a login session (API keys get 403).
    Session,
    /// Administrators.
    Admin,
    /// Callers who may see the device `{id}` (others: 404).
    DeviceRead,
    /// The owner of device `{id}` or an administrator (invisible: 404, read-only: 403).
    DeviceManage,
    /// Callers who may command device `{id}`: its owner, an officer with an open alarm on it,
    /// an administrator (invisible: 404, visible only: 403).
    DeviceCommand,
    /// Callers who may see the alarm `{alarm_id}`: administrators, dispatchers, officers of
    /// its unit, owners and sharees of its device (others: 404).
    AlarmRead,
    /// Callers who handle the alarm `{alarm_id}`: administrators, dispatchers, officers of its
    /// unit (invisible: 404, visible only — owners: 403).
    AlarmHandle,
    /// Police linkage data (cameras, checkpoints): administrators, dispatchers and officers
    /// (officers: those of their units and inside their units' jurisdictions). Everyone else,
    /// and an API key without the route's scopes, gets 404 as if the route did not exist.
    Linkage,
    /// The linkage of the alarm `{alarm_id}` (cameras passed, checkpoints ahead, intercept
    /// requests): administrators, dispatchers, officers of its unit; everyone else 404.
    AlarmLinkage,
    /// The cameras passed by device `{id}`: administrators, dispatchers, officers pursuing it
    /// (an open alarm of their unit); everyone else 404.
    DeviceLinkage,
    /// Planning and assessment figures: administrators and dispatchers; everyone else 404.
    Planning,
}

impl Access {
    /// Whether the route serves police linkage data, which a caller without the right (role,
    /// or key scope) must not learn exists: refused with 404, never 403.
    pub fn hides_from_refused(self) -> bool {
        matches!(
            self,
            Access::Linkage | Access::AlarmLinkage | Access::DeviceLinkage | Access::Planning
        )
    }
}

/// Which API a route belongs to: where it is mounted and how its callers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Vigil's own API under `/api/v1`: `Authorization: Bearer` (and `?token=` where the
    /// route allows it).
    V1,
    /// The Traccar-compatible subset under `/api` ([`super::traccar`]): HTTP Basic, the
    /// `JSESSIONID` cookie, `Authorization: Bearer`, and `?token=` where the route allows it.
    Traccar,
}

impl Surface {
    /// Where the surface is mounted.
    pub fn prefix(self) -> &'static str {
        match self {
            Surface::V1 => "/api/v1",
            Surface::Traccar => "/api",
        }
    }
}

/// One route of the HTTP API.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// Stable name (tests key their fixtures on it).
    pub name: &'static str,
    /// The API it belongs to.
    pub surface: Surface,
    /// Method.
    pub method: Method,
    /// Path below the surface's prefix ([`Surface::prefix`]), actix pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// What an API key needs (sessions have every right of their role).
    pub scope: KeyRule,
    /// Whether the credential may come as `?token=` (a browser's WebSocket cannot set headers).
    pub token_in_query: bool,
    /// Builds the actix route.
    pub route: fn() -> Route,
}

macro_rules! spec {
    ($name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path) => {
        spec!(@ V1, $name, $m, $path, $access, $scope, $handler, false)
    };
    ($name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path, $query_token:literal) => {
        spec!(@ V1, $name, $m, $path, $access, $scope, $handler, $query_token)
    };
    (@ $surface:ident, $name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path, $query_token:literal) => {
        RouteSpec {
            name: $name,
            surface: Surface::$surface,
            method: Method::$m,
            path: $path,
            access: Access::$access,
            scope: {
                use KeyRule::*;
                $scope
            },
            token_in_query: $query_token,
            route: || match Method::$m {
                Method::Get => web::get().to($handler),
                Method::Post => web::post().to($handler),
                Method::Put => web::put().to($handler),
                Method::Delete => web::delete().to($handler),
            },
        }
    };
}

/// A route of the Traccar-compatible API (mounted under `/api`).
macro_rules! traccar {
    ($name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path) => {
        spec!(@ Traccar, $name, $m, $path, $access, $scope, $handler, false)
    };
    ($name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path, $query_token:literal) => {
        spec!(@ Traccar, $name, $m, $path, $access, $scope, $handler, $query_token)
    };
}

/// Every route of both surfaces. Literal paths come before patterns that would shadow them.
pub const ROUTES: &[RouteSpec] = &[
    spec!(
        "session.login",
        Post,
        "/session",
        Public,
        AnyKey,
        auth::login
    ),
    spec!(
        "session.logout",
        Delete,
        "/session",
        Session,
        NoKey,
        auth::logout
    ),
    spec!(
        "users.me",
        Get,
        "/users/me",
        Authenticated,
        AnyKey,
        users::me
    ),
    spec!(
        "users.update_me",
        Put,
        "/users/me",
        Session,
        NoKey,
        users::update_me
    ),
    spec!(
        "users.list",
        Get,
        "/users",
        Admin,
        Needs(Scope::AdminUsers),
        users::list
    ),
    spec!(
        "users.create",
        Post,
        "/users",
        Admin,
        Needs(Scope::AdminUsers),
        users::create
    ),
    spec!(
        "users.units",
        Put,
        "/users/{id}/units",
        Admin,
        Needs(Scope::AdminUsers),
        users::set_units
    ),
    spec!("keys.list", Get, "/keys", Session, NoKey, keys::list),
    spec!("keys.create", Post, "/keys", Session, NoKey, keys::create),
    spec!(
        "keys.revoke",
        Delete,
        "/keys/{key_id}",
        Session,
        NoKey,
        keys::revoke
    ),
    spec!(
        "devices.list",
        Get,
        "/devices",
        Authenticated,
        Needs(Scope::DevicesRead),
        devices::list
    ),
    spec!(
        "devices.create",
        Post,
        "/devices",
        Admin,
        Needs(Scope::DevicesWrite),
        devices::create
    ),
    spec!(
        "devices.get",
        Get,
        "/devices/{id}",
        DeviceRead,
        Needs(Scope::DevicesRead),
        devices::get
    ),
    spec!(
        "devices.owner",
        Put,
        "/devices/{id}/owner",
        Admin,
        Needs(Scope::DevicesWrite),
        devices::set_owner
    ),
    spec!(
        "devices.mqtt_token",
        Post,
        "/devices/{id}/mqtt-token",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        devices::new_mqtt_token
    ),
    spec!(
        "devices.shares",
        Get,
        "/devices/{id}/shares",
        DeviceManage,
        Needs(Scope::DevicesRead),
        devices::shares
    ),
    spec!(
        "devices.share",
        Post,
        "/devices/{id}/shares",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        devices::share
    ),
    spec!(
        "devices.unshare",
        Delete,
        "/devices/{id}/shares/{user_id}",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        devices::unshare
    ),
    spec!(
        "positions.latest",
        Get,
        "/devices/{id}/positions/latest",
        DeviceRead,
        Needs(Scope::PositionsRead),
        devices::latest_position
    ),
    spec!(
        "positions.range",
        Get,
        "/devices/{id}/positions",
        DeviceRead,
        Needs(Scope::PositionsRead),
        devices::positions
    ),
    spec!(
        "positions.live",
        Get,
        "/positions/latest",
        Authenticated,
        Needs(Scope::PositionsRead),
        devices::live
    ),
    spec!(
        "commands.create",
        Post,
        "/devices/{id}/commands",
        DeviceCommand,
        Needs(Scope::CommandsWrite),
        commands::create
    ),
    spec!(
        "commands.list",
        Get,
        "/devices/{id}/commands",
        DeviceRead,
        Needs(Scope::DevicesRead),
        commands::list
    ),
    spec!(
        "commands.get",
        Get,
        "/commands/{command_id}",
        DeviceRead,
        Needs(Scope::DevicesRead),
        commands::get
    ),
    spec!(
        "audit.device",
        Get,
        "/devices/{id}/audit",
        DeviceManage,
        Needs(Scope::DevicesRead),
        commands::device_audit
    ),
    spec!(
        "audit.list",
        Get,
        "/audit",
        Admin,
        Needs(Scope::AdminAudit),
        commands::audit
    ),
    spec!(
        "trajectory.get",
        Get,
        "/devices/{id}/trajectory",
        DeviceRead,
        Needs(Scope::PositionsRead),
        trajectory::get
    ),
    spec!(
        "trajectory.trips",
        Get,
        "/devices/{id}/trips",
        DeviceRead,
        Needs(Scope::PositionsRead),
        trajectory::trips
    ),
    spec!(
        "trajectory.summary",
        Get,
        "/devices/{id}/summary",
        DeviceRead,
        Needs(Scope::PositionsRead),
        trajectory::summary
    ),
    spec!(
        "events.list",
        Get,
        "/events",
        DeviceRead,
        Needs(Scope::EventsRead),
        events::list
    ),
    spec!(
        "alarms.list",
        Get,
        "/alarms",
        Authenticated,
        Needs(Scope::AlarmsRead),
        alarms::list
    ),
    spec!(
        "alarms.get",
        Get,
        "/alarms/{alarm_id}",
        AlarmRead,
        Needs(Scope::AlarmsRead),
        alarms::get
    ),
    spec!(
        "alarms.ack",
        Post,
        "/alarms/{alarm_id}/ack",
        AlarmHandle,
        Needs(Scope::AlarmsWrite),
        alarms::ack
    ),
    spec!(
        "alarms.assign",
        Post,
        "/alarms/{alarm_id}/assign",
        AlarmHandle,
        Needs(Scope::AlarmsWrite),
        alarms::assign
    ),
    spec!(
        "alarms.resolve",
        Post,
        "/alarms/{alarm_id}/resolve",
        AlarmHandle,
        Needs(Scope::AlarmsWrite),
        alarms::resolve
    ),
    spec!(
        "guard.arm",
        Post,
        "/devices/{id}/arm",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        alarms::arm
    ),
    spec!(
        "guard.disarm",
        Post,
        "/devices/{id}/disarm",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        alarms::disarm
    ),
    spec!(
        "guard.get",
        Get,
        "/devices/{id}/guard",
        DeviceRead,
        Needs(Scope::DevicesRead),
        alarms::guard
    ),
    spec!(
        "guard.speed_limit",
        Put,
        "/devices/{id}/speed-limit",
        DeviceManage,
        Needs(Scope::DevicesWrite),
        alarms::speed_limit
    ),
    spec!(
        "units.list",
        Get,
        "/units",
        Authenticated,
        Needs(Scope::UnitsRead),
        units::list
    ),
    spec!(
        "units.create",
        Post,
        "/units",
        Admin,
        Needs(Scope::AdminConfig),
        units::create
    ),
    spec!(
        "units.update",
        Put,
        "/units/{unit_id}",
        Admin,
        Needs(Scope::AdminConfig),
        units::update
    ),
    spec!(
        "units.delete",
        Delete,
        "/units/{unit_id}",
        Admin,
        Needs(Scope::AdminConfig),
        units::delete
    ),
    spec!(
        "fences.list",
        Get,
        "/fences",
        Authenticated,
        Needs(Scope::FencesRead),
        fences::list
    ),
    spec!(
        "fences.create",
        Post,
        "/fences",
        Admin,
        Needs(Scope::AdminConfig),
        fences::create
    ),
    spec!(
        "fences.update",
        Put,
        "/fences/{fence_id}",
        Admin,
        Needs(Scope::AdminConfig),
        fences::update
    ),
    spec!(
        "fences.delete",
        Delete,
        "/fences/{fence_id}",
        Admin,
        Needs(Scope::AdminConfig),
        fences::delete
    ),
    spec!(
        "fences.assign",
        Post,
        "/devices/{id}/fences",
        Admin,
        Needs(Scope::AdminConfig),
        fences::assign
    ),
    spec!(
        "webhooks.list",
        Get,
        "/webhooks",
        Admin,
        Needs(Scope::AdminConfig),
        webhooks::list
    ),
    spec!(
        "webhooks.create",
        Post,
        "/webhooks",
        Admin,
        Needs(Scope::AdminConfig),
        webhooks::create
    ),
    spec!(
        "webhooks.delete",
        Delete,
        "/webhooks/{webhook_id}",
        Admin,
        Needs(Scope::AdminConfig),
        webhooks::delete
    ),
    spec!(
        "webhooks.deliveries",
        Get,
        "/webhooks/{webhook_id}/deliveries",
        Admin,
        Needs(Scope::AdminConfig),
        webhooks::list_deliveries
    ),
    // Web Push: the key every browser needs is public; a subscription belongs to a login
    // session (a browser), so API keys get 403.
    spec!(
        "push.vapid_key",
        Get,
        "/push/vapid-public-key",
        Public,
        AnyKey,
        push::vapid_key
    ),
    spec!(
        "push.list",
        Get,
        "/push-subscriptions",
        Session,
        NoKey,
        push::list
    ),
    spec!(
        "push.subscribe",
        Post,
        "/push-subscriptions",
        Session,
        NoKey,
        push::subscribe
    ),
    spec!(
        "push.unsubscribe",
        Delete,
        "/push-subscriptions",
        Session,
        NoKey,
        push::unsubscribe
    ),
    spec!(
        "cameras.list",
        Get,
        "/cameras",
        Linkage,
        Needs(Scope::LinkageRead),
        places::list_cameras
    ),
    spec!(
        "cameras.create",
        Post,
        "/cameras",
        Admin,
        Needs(Scope::AdminConfig),
        places::create_camera
    ),
    // Before `/cameras/{camera_id}`, which would shadow it.
    spec!(
        "cameras.import",
        Post,
        "/cameras/import",
        Admin,
        Needs(Scope::AdminConfig),
        places::import_cameras
    ),
    spec!(
        "cameras.get",
        Get,
        "/cameras/{camera_id}",
        Linkage,
        Needs(Scope::LinkageRead),
        places::get_camera
    ),
    spec!(
        "cameras.update",
        Put,
        "/cameras/{camera_id}",
        Admin,
        Needs(Scope::AdminConfig),
        places::update_camera
    ),
    spec!(
        "cameras.delete",
        Delete,
        "/cameras/{camera_id}",
        Admin,
        Needs(Scope::AdminConfig),
        places::delete_camera
    ),
    spec!(
        "checkpoints.list",
        Get,
        "/checkpoints",
        Linkage,
        Needs(Scope::LinkageRead),
        places::list_checkpoints
    ),
    spec!(
        "checkpoints.create",
        Post,
        "/checkpoints",
        Admin,
        Needs(Scope::AdminConfig),
        places::create_checkpoint
    ),
    spec!(
        "checkpoints.import",
        Post,
        "/checkpoints/import",
        Admin,
        Needs(Scope::AdminConfig),
        places::import_checkpoints
    ),
    spec!(
        "checkpoints.get",
        Get,
        "/checkpoints/{checkpoint_id}",
        Linkage,
        Needs(Scope::LinkageRead),
        places::get_checkpoint
    ),
    spec!(
        "checkpoints.update",
        Put,
        "/checkpoints/{checkpoint_id}",
        Admin,
        Needs(Scope::AdminConfig),
        places::update_checkpoint
    ),
    spec!(
        "checkpoints.delete",
        Delete,
        "/checkpoints/{checkpoint_id}",
        Admin,
        Needs(Scope::AdminConfig),
        places::delete_checkpoint
    ),
    spec!(
        "alarms.linkage",
        Get,
        "/alarms/{alarm_id}/linkage",
        AlarmLinkage,
        AllOf(&[Scope::AlarmsRead, Scope::LinkageRead]),
        linkage::alarm_linkage
    ),
    spec!(
        "alarms.intercept",
        Post,
        "/alarms/{alarm_id}/intercepts",
        AlarmLinkage,
        AllOf(&[Scope::AlarmsWrite, Scope::LinkageRead]),
        linkage::request_intercept
    ),
    spec!(
        "devices.cameras_passed",
        Get,
        "/devices/{id}/cameras-passed",
        DeviceLinkage,
        AllOf(&[Scope::PositionsRead, Scope::LinkageRead]),
        linkage::cameras_passed
    ),
    spec!(
        "stats.alarms",
        Get,
        "/stats/alarms",
        Planning,
        AllOf(&[Scope::AlarmsRead, Scope::LinkageRead]),
        stats::alarms
    ),
    spec!(
        "stats.units",
        Get,
        "/stats/units",
        Planning,
        AllOf(&[Scope::AlarmsRead, Scope::LinkageRead]),
        stats::units
    ),
    // A WebSocket upgrade; `?token=` is accepted besides the header. Events are filtered per
    // caller (see `crate::transport::http::handlers::stream`).
    spec!(
        "stream",
        Get,
        "/stream",
        Authenticated,
        AnyOf(&[Scope::PositionsRead, Scope::AlarmsRead, Scope::DevicesRead]),
        stream::stream,
        true
    ),
    // The Traccar-compatible subset under `/api` (see `crate::transport::http::traccar`):
    // the same rights as the routes above, Traccar's shapes and names.
    traccar!(
        "traccar.session.login",
        Post,
        "/session",
        Public,
        AnyKey,
        traccar::session::login
    ),
    traccar!(
        "traccar.session.get",
        Get,
        "/session",
        Authenticated,
        AnyKey,
        traccar::session::get,
        true
    ),
    traccar!(
        "traccar.session.logout",
        Delete,
        "/session",
        Authenticated,
        AnyKey,
        traccar::session::logout
    ),
    traccar!(
        "traccar.session.token",
        Post,
        "/session/token",
        Session,
        NoKey,
        traccar::session::token
    ),
    traccar!(
        "traccar.server",
        Get,
        "/server",
        Authenticated,
        AnyKey,
        traccar::server::get
    ),
    traccar!(
        "traccar.devices",
        Get,
        "/devices",
        Authenticated,
        Needs(Scope::DevicesRead),
        traccar::devices::list
    ),
    traccar!(
        "traccar.positions",
        Get,
        "/positions",
        Authenticated,
        Needs(Scope::PositionsRead),
        traccar::positions::list
    ),
    traccar!(
        "traccar.geofences",
        Get,
        "/geofences",
        Authenticated,
        Needs(Scope::FencesRead),
        traccar::geofences::list
    ),
    traccar!(
        "traccar.events",
        Get,
        "/reports/events",
        Authenticated,
        AnyOf(&[Scope::AlarmsRead, Scope::EventsRead]),
        traccar::events::report
    ),
    // The device is named in the body (`deviceId`); the handler loads it as the route above
    // does (invisible: 404, visible only: 403).
    traccar!(
        "traccar.commands.send",
        Post,
        "/commands/send",
        DeviceCommand,
        Needs(Scope::CommandsWrite),
        traccar::commands::send
    ),
    traccar!(
        "traccar.commands.types",
        Get,
        "/commands/types",
        DeviceRead,
        Needs(Scope::DevicesRead),
        traccar::commands::types
    ),
    traccar!(
        "traccar.socket",
        Get,
        "/socket",
        Authenticated,
        AnyOf(&[Scope::PositionsRead, Scope::AlarmsRead, Scope::DevicesRead]),
        traccar::socket::socket,
        true
    ),
];

impl RouteSpec {
    /// The whole path: the surface's prefix and the route's path.
    pub fn full_path(&self) -> String {
        format!("{}{}", self.surface.prefix(), self.path)
    }
}

/// Registers the [`ROUTES`] of one surface on a scope, one resource per path (so that a path
/// with several methods answers 405 for the others rather than 404).
pub fn register(mut scope: actix_web::Scope, surface: Surface) -> actix_web::Scope {
    let routes = || ROUTES.iter().filter(move |r| r.surface == surface);
    let mut paths: Vec<&'static str> = Vec::new();
    for r in routes() {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for r in routes().filter(|r| r.path == path) {
            resource =
                resource.route((r.route)().wrap(from_fn(move |req, next| guard(r, req, next))));
        }
        // A known path with an unsupported method is a 405 JSON error, not a 404.
        scope = scope.service(resource.default_service(web::to(super::method_not_allowed)));
    }
    scope
}

/// Admits a request to the route `spec` (see the module documentation): 401 without a valid
/// credential, 403 when the route's class or key rule refuses the caller.
pub async fn guard(
    spec: &'static RouteSpec,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if spec.access != Access::Public {
        let actor = admit(spec, &req).await?;
        req.extensions_mut().insert(actor);
    }
    next.call(req).await
}

async fn admit(spec: &RouteSpec, req: &ServiceRequest) -> Result<Actor, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("state missing"))?;
    let actor = match spec.surface {
        Surface::V1 => bearer_actor(spec, req, state).await?,
        Surface::Traccar => {
            super::traccar::auth::authenticate(state, req.request(), spec.token_in_query).await?
        }
    };
    if spec.access.hides_from_refused() {
        let role_admits = match spec.access {
            Access::Planning => actor.sees_everything(),
            _ => matches!(
                actor.user.role,
                crate::domain::Role::Admin
                    | crate::domain::Role::Dispatcher
                    | crate::domain::Role::Officer
            ),
        };
        if !role_admits || actor.require_key_rule(spec.scope).is_err() {
            // Exactly what an unknown path answers.
            return Err(ApiError::not_found(format!(
                "no route for {} {}",
                req.method(),
                req.path()
            )));
        }
    }
    match spec.access {
        Access::Session => {
            actor.require_login()?;
        }
        Access::Admin if !actor.is_admin() => {
            return Err(Forbidden::AdminOnly.into());
        }
        _ => {}
    }
    actor.require_key_rule(spec.scope)?;
    Ok(actor)
}

/// The caller of a `/api/v1` request: its `Authorization: Bearer` token (or `?token=` where
/// the route allows it).
async fn bearer_actor(
    spec: &RouteSpec,
    req: &ServiceRequest,
    state: &AppState,
) -> Result<Actor, ApiError> {
    let token = crate::transport::http::extractors::bearer(req.request())
        .or_else(|| {
            spec.token_in_query
                .then(|| query_token(req.query_string()))
                .flatten()
        })
        .ok_or_else(|| {
            ApiError::unauthorized(if spec.token_in_query {
                "missing Authorization: Bearer <token> header or ?token="
            } else {
                "missing Authorization: Bearer <token> header"
            })
        })?;
    Ok(access::authenticate(&state.db, &token).await?)
}

/// The `token` parameter of a query string.
pub(crate) fn query_token(query: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// Whether a key with `scopes` (of an administrator) passes the route's key rule; for tests
/// and the documentation of each route.
pub fn key_admits(spec: &RouteSpec, scopes: &[Scope]) -> bool {
    spec.access != Access::Session && spec.scope.admits(scopes)
}
