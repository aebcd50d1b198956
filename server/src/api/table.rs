//! The route table: one list that the router registers and the permission-matrix test walks,
//! so a route cannot be added without saying who may call it.

use actix_web::{Route, web};

use super::{alarms, auth, commands, devices, events, fences, keys, trajectory, units, users};
use crate::{stream, webhooks};

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

/// Who may call a route (the handler enforces it through [`crate::access`]).
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
}

/// One route under `/api/v1`.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// Stable name (tests key their fixtures on it).
    pub name: &'static str,
    /// Method.
    pub method: Method,
    /// Path below `/api/v1`, actix pattern.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// API-key scope it needs (sessions have every scope their role allows).
    pub scope: Option<&'static str>,
    /// Builds the actix route.
    pub route: fn() -> Route,
}

macro_rules! spec {
    ($name:literal, $m:ident, $path:literal, $access:ident, $scope:expr, $handler:path) => {
        RouteSpec {
            name: $name,
            method: Method::$m,
            path: $path,
            access: Access::$access,
            scope: $scope,
            route: || match Method::$m {
                Method::Get => web::get().to($handler),
                Method::Post => web::post().to($handler),
                Method::Put => web::put().to($handler),
                Method::Delete => web::delete().to($handler),
            },
        }
    };
}

/// Every `/api/v1` route. Literal paths come before patterns that would shadow them.
pub const ROUTES: &[RouteSpec] = &[
    spec!("session.login", Post, "/session", Public, None, auth::login),
    spec!(
        "session.logout",
        Delete,
        "/session",
        Session,
        None,
        auth::logout
    ),
    spec!("users.me", Get, "/users/me", Authenticated, None, users::me),
    spec!(
        "users.update_me",
        Put,
        "/users/me",
        Session,
        None,
        users::update_me
    ),
    spec!("users.list", Get, "/users", Admin, None, users::list),
    spec!("users.create", Post, "/users", Admin, None, users::create),
    spec!(
        "users.units",
        Put,
        "/users/{id}/units",
        Admin,
        None,
        users::set_units
    ),
    spec!("keys.list", Get, "/keys", Session, None, keys::list),
    spec!("keys.create", Post, "/keys", Session, None, keys::create),
    spec!(
        "keys.revoke",
        Delete,
        "/keys/{key_id}",
        Session,
        None,
        keys::revoke
    ),
    spec!(
        "devices.list",
        Get,
        "/devices",
        Authenticated,
        Some("devices:read"),
        devices::list
    ),
    spec!(
        "devices.create",
        Post,
        "/devices",
        Admin,
        Some("devices:write"),
        devices::create
    ),
    spec!(
        "devices.get",
        Get,
        "/devices/{id}",
        DeviceRead,
        Some("devices:read"),
        devices::get
    ),
    spec!(
        "devices.owner",
        Put,
        "/devices/{id}/owner",
        Admin,
        Some("devices:write"),
        devices::set_owner
    ),
    spec!(
        "devices.mqtt_token",
        Post,
        "/devices/{id}/mqtt-token",
        DeviceManage,
        Some("devices:write"),
        devices::new_mqtt_token
    ),
    spec!(
        "devices.shares",
        Get,
        "/devices/{id}/shares",
        DeviceManage,
        Some("devices:read"),
        devices::shares
    ),
    spec!(
        "devices.share",
        Post,
        "/devices/{id}/shares",
        DeviceManage,
        Some("devices:write"),
        devices::share
    ),
    spec!(
        "devices.unshare",
        Delete,
        "/devices/{id}/shares/{user_id}",
        DeviceManage,
        Some("devices:write"),
        devices::unshare
    ),
    spec!(
        "positions.latest",
        Get,
        "/devices/{id}/positions/latest",
        DeviceRead,
        Some("positions:read"),
        devices::latest_position
    ),
    spec!(
        "positions.range",
        Get,
        "/devices/{id}/positions",
        DeviceRead,
        Some("positions:read"),
        devices::positions
    ),
    spec!(
        "positions.live",
        Get,
        "/positions/latest",
        Authenticated,
        Some("positions:read"),
        devices::live
    ),
    spec!(
        "commands.create",
        Post,
        "/devices/{id}/commands",
        DeviceCommand,
        Some("commands:write"),
        commands::create
    ),
    spec!(
        "commands.list",
        Get,
        "/devices/{id}/commands",
        DeviceRead,
        Some("devices:read"),
        commands::list
    ),
    spec!(
        "commands.get",
        Get,
        "/commands/{command_id}",
        DeviceRead,
        Some("devices:read"),
        commands::get
    ),
    spec!(
        "audit.device",
        Get,
        "/devices/{id}/audit",
        DeviceManage,
        Some("devices:read"),
        commands::device_audit
    ),
    spec!("audit.list", Get, "/audit", Admin, None, commands::audit),
    spec!(
        "trajectory.get",
        Get,
        "/devices/{id}/trajectory",
        DeviceRead,
        Some("positions:read"),
        trajectory::get
    ),
    spec!(
        "trajectory.trips",
        Get,
        "/devices/{id}/trips",
        DeviceRead,
        Some("positions:read"),
        trajectory::trips
    ),
    spec!(
        "trajectory.summary",
        Get,
        "/devices/{id}/summary",
        DeviceRead,
        Some("positions:read"),
        trajectory::summary
    ),
    spec!(
        "events.list",
        Get,
        "/events",
        DeviceRead,
        Some("events:read"),
        events::list
    ),
    spec!(
        "alarms.list",
        Get,
        "/alarms",
        Authenticated,
        Some("alarms:read"),
        alarms::list
    ),
    spec!(
        "alarms.get",
        Get,
        "/alarms/{alarm_id}",
        AlarmRead,
        Some("alarms:read"),
        alarms::get
    ),
    spec!(
        "alarms.ack",
        Post,
        "/alarms/{alarm_id}/ack",
        AlarmHandle,
        Some("alarms:write"),
        alarms::ack
    ),
    spec!(
        "alarms.assign",
        Post,
        "/alarms/{alarm_id}/assign",
        AlarmHandle,
        Some("alarms:write"),
        alarms::assign
    ),
    spec!(
        "alarms.resolve",
        Post,
        "/alarms/{alarm_id}/resolve",
        AlarmHandle,
        Some("alarms:write"),
        alarms::resolve
    ),
    spec!(
        "guard.arm",
        Post,
        "/devices/{id}/arm",
        DeviceManage,
        Some("devices:write"),
        alarms::arm
    ),
    spec!(
        "guard.disarm",
        Post,
        "/devices/{id}/disarm",
        DeviceManage,
        Some("devices:write"),
        alarms::disarm
    ),
    spec!(
        "guard.get",
        Get,
        "/devices/{id}/guard",
        DeviceRead,
        Some("devices:read"),
        alarms::guard
    ),
    spec!(
        "guard.speed_limit",
        Put,
        "/devices/{id}/speed-limit",
        DeviceManage,
        Some("devices:write"),
        alarms::speed_limit
    ),
    spec!(
        "units.list",
        Get,
        "/units",
        Authenticated,
        None,
        units::list
    ),
    spec!("units.create", Post, "/units", Admin, None, units::create),
    spec!(
        "units.update",
        Put,
        "/units/{unit_id}",
        Admin,
        None,
        units::update
    ),
    spec!(
        "units.delete",
        Delete,
        "/units/{unit_id}",
        Admin,
        None,
        units::delete
    ),
    spec!(
        "fences.list",
        Get,
        "/fences",
        Authenticated,
        None,
        fences::list
    ),
    spec!(
        "fences.create",
        Post,
        "/fences",
        Admin,
        None,
        fences::create
    ),
    spec!(
        "fences.update",
        Put,
        "/fences/{fence_id}",
        Admin,
        None,
        fences::update
    ),
    spec!(
        "fences.delete",
        Delete,
        "/fences/{fence_id}",
        Admin,
        None,
        fences::delete
    ),
    spec!(
        "fences.assign",
        Post,
        "/devices/{id}/fences",
        Admin,
        None,
        fences::assign
    ),
    spec!(
        "webhooks.list",
        Get,
        "/webhooks",
        Admin,
        None,
        webhooks::list
    ),
    spec!(
        "webhooks.create",
        Post,
        "/webhooks",
        Admin,
        None,
        webhooks::create
    ),
    spec!(
        "webhooks.delete",
        Delete,
        "/webhooks/{webhook_id}",
        Admin,
        None,
        webhooks::delete
    ),
    spec!(
        "webhooks.deliveries",
        Get,
        "/webhooks/{webhook_id}/deliveries",
        Admin,
        None,
        webhooks::list_deliveries
    ),
    // A WebSocket upgrade; `?token=` is accepted besides the header. Events are filtered per
    // caller (see `crate::stream`).
    spec!(
        "stream",
        Get,
        "/stream",
        Authenticated,
        None,
        stream::stream
    ),
];

/// Registers [`ROUTES`] on a scope, one resource per path (so that a path with several methods
/// answers 405 for the others rather than 404).
pub fn register(mut scope: actix_web::Scope) -> actix_web::Scope {
    let mut paths: Vec<&'static str> = Vec::new();
    for r in ROUTES {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut resource = web::resource(path);
        for r in ROUTES.iter().filter(|r| r.path == path) {
            resource = resource.route((r.route)());
        }
        // A known path with an unsupported method is a 405 JSON error, not a 404.
        scope = scope.service(resource.default_service(web::to(super::method_not_allowed)));
    }
    scope
}
