//! The OpenAPI 3 document, generated from the route table ([`super::routes::ROUTES`]) and the
//! query/body types (utoipa derives), served at `/api/v1/openapi.json` with a Swagger UI at
//! `/api/v1/docs/` whose assets are compiled in (works offline).

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder,
    PathItem, PathsBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, Type,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::handlers::{
    alarms, auth, commands, devices, events, fences, keys, linkage, places, stats, trajectory,
    units, users,
};
use super::routes::{Access, Method, ROUTES, Surface};
use super::traccar::{commands as tc_commands, model as tc, server as tc_server};
use crate::domain::StoredPosition;
use crate::domain::alarms::{AlarmView, Guard};
use crate::domain::linkage::{Camera, Checkpoint};
use crate::domain::units::PatrolUnit;
use crate::services::linkage::{AlarmLinkage, ImportReport};
use crate::services::webhooks::Webhook;
use crate::transport::http::handlers::push;
use crate::transport::http::handlers::webhooks::{DeliveryList, WebhookList};

/// A GeoJSON Feature as the API returns fences and trajectory points (schema only: the
/// handlers build it with the `geofence` crate).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Feature {
    /// Always `Feature`.
    #[serde(rename = "type")]
    #[schema(pattern = "^Feature$")]
    pub kind: String,
    /// Fence id (fences only).
    pub id: Option<u64>,
    /// GeoJSON geometry (fences: Polygon or MultiPolygon; circles are Points with a radius).
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    /// Fences: `kind`, `name`, `unit_id` (jurisdictions), …; trajectory: fix or line details.
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
}

/// A GeoJSON FeatureCollection (schema only).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FeatureCollection {
    /// Always `FeatureCollection`.
    #[serde(rename = "type")]
    #[schema(pattern = "^FeatureCollection$")]
    pub kind: String,
    /// The features.
    pub features: Vec<Feature>,
}

/// A reference to a component schema.
fn schema_ref<T: ToSchema>() -> Option<RefOr<Schema>> {
    Some(RefOr::Ref(Ref::from_schema_name(T::name())))
}

/// An array of a component schema (the Traccar-compatible lists are bare arrays).
fn array_of<T: ToSchema>() -> Option<RefOr<Schema>> {
    Some(RefOr::T(Schema::Array(
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .build(),
    )))
}

/// The schema of a route's 2xx JSON answer, by route name (`None`: the route answers without
/// a body, 204 or a WebSocket upgrade). Every type named here is registered in
/// [`components`].
fn response_schema(name: &str) -> Option<RefOr<Schema>> {
    match name {
        "session.login" => schema_ref::<auth::LoginResponse>(),
        "users.me" => schema_ref::<users::Me>(),
        "users.update_me" | "users.create" => schema_ref::<users::UserWithUnits>(),
        "users.list" => schema_ref::<users::UserList>(),
        "users.units" => schema_ref::<users::UnitMembership>(),
        "keys.list" => schema_ref::<keys::KeyList>(),
        "keys.create" => schema_ref::<keys::NewKey>(),
        "devices.list" => schema_ref::<devices::DeviceList>(),
        "devices.create" | "devices.get" | "devices.owner" => schema_ref::<devices::DeviceView>(),
        "devices.mqtt_token" => schema_ref::<devices::MqttCredentials>(),
        "devices.shares" => schema_ref::<devices::ShareList>(),
        "devices.share" => schema_ref::<devices::Share>(),
        "positions.latest" => schema_ref::<StoredPosition>(),
        "positions.range" => schema_ref::<devices::PositionPage>(),
        "positions.live" => schema_ref::<devices::LivePositions>(),
        "commands.create" | "commands.get" => schema_ref::<commands::CommandEnvelope>(),
        "commands.list" => schema_ref::<commands::CommandList>(),
        "audit.device" | "audit.list" => schema_ref::<commands::AuditPage>(),
        "trajectory.get" => schema_ref::<trajectory::Trajectory>(),
        "trajectory.trips" => schema_ref::<trajectory::TripsAndStops>(),
        "trajectory.summary" => schema_ref::<trajectory::Summary>(),
        "events.list" => schema_ref::<events::EventList>(),
        "alarms.list" => schema_ref::<alarms::AlarmList>(),
        "alarms.get" => schema_ref::<alarms::AlarmDetail>(),
        "alarms.ack" | "alarms.assign" | "alarms.resolve" => schema_ref::<AlarmView>(),
        "guard.arm" | "guard.disarm" => schema_ref::<Guard>(),
        "guard.get" => schema_ref::<alarms::GuardState>(),
        "units.list" => schema_ref::<units::UnitList>(),
        "units.create" | "units.update" => schema_ref::<PatrolUnit>(),
        "fences.list" => schema_ref::<FeatureCollection>(),
        "fences.create" | "fences.update" => schema_ref::<Feature>(),
        "webhooks.list" => schema_ref::<WebhookList>(),
        "webhooks.create" => schema_ref::<Webhook>(),
        "webhooks.deliveries" => schema_ref::<DeliveryList>(),
        "push.vapid_key" => schema_ref::<push::VapidKey>(),
        "push.list" => schema_ref::<push::SubscriptionList>(),
        "push.subscribe" => schema_ref::<crate::services::push::PushSubscription>(),
        "traccar.session.login" | "traccar.session.get" => schema_ref::<tc::TraccarUser>(),
        "traccar.server" => schema_ref::<tc_server::TraccarServer>(),
        "traccar.devices" => array_of::<tc::TraccarDevice>(),
        "traccar.positions" => array_of::<tc::TraccarPosition>(),
        "traccar.geofences" => array_of::<tc::TraccarGeofence>(),
        "traccar.events" => array_of::<tc::TraccarEvent>(),
        "traccar.commands.send" => schema_ref::<tc_commands::TraccarCommand>(),
        "traccar.commands.types" => array_of::<tc_commands::CommandType>(),
        "cameras.list" => schema_ref::<places::CameraList>(),
        "cameras.get" | "cameras.create" | "cameras.update" => schema_ref::<Camera>(),
        "checkpoints.list" => schema_ref::<places::CheckpointList>(),
        "checkpoints.get" | "checkpoints.create" | "checkpoints.update" => {
            schema_ref::<Checkpoint>()
        }
        "cameras.import" | "checkpoints.import" => schema_ref::<ImportReport>(),
        "alarms.linkage" => schema_ref::<AlarmLinkage>(),
        "alarms.intercept" => schema_ref::<linkage::InterceptAnswer>(),
        "devices.cameras_passed" => schema_ref::<linkage::CamerasPassed>(),
        "stats.alarms" => schema_ref::<stats::AlarmStats>(),
        "stats.units" => schema_ref::<stats::UnitStats>(),
        _ => None,
    }
}

/// Registers `T` and every schema it refers to.
fn add<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().into_owned(), T::schema()));
    T::schemas(out);
}

/// The component schemas of every answer in [`response_schema`].
fn components() -> Vec<(String, RefOr<Schema>)> {
    let mut s = Vec::new();
    add::<auth::LoginResponse>(&mut s);
    add::<users::Me>(&mut s);
    add::<users::UserWithUnits>(&mut s);
    add::<users::UserList>(&mut s);
    add::<users::UnitMembership>(&mut s);
    add::<keys::KeyList>(&mut s);
    add::<keys::NewKey>(&mut s);
    add::<devices::DeviceList>(&mut s);
    add::<devices::DeviceView>(&mut s);
    add::<devices::MqttCredentials>(&mut s);
    add::<devices::ShareList>(&mut s);
    add::<devices::Share>(&mut s);
    add::<StoredPosition>(&mut s);
    add::<devices::PositionPage>(&mut s);
    add::<devices::LivePositions>(&mut s);
    add::<commands::CommandEnvelope>(&mut s);
    add::<commands::CommandList>(&mut s);
    add::<commands::AuditPage>(&mut s);
    add::<trajectory::Trajectory>(&mut s);
    add::<trajectory::TripsAndStops>(&mut s);
    add::<trajectory::Summary>(&mut s);
    add::<events::EventList>(&mut s);
    add::<alarms::AlarmList>(&mut s);
    add::<alarms::AlarmDetail>(&mut s);
    add::<AlarmView>(&mut s);
    add::<Guard>(&mut s);
    add::<alarms::GuardState>(&mut s);
    add::<units::UnitList>(&mut s);
    add::<PatrolUnit>(&mut s);
    add::<FeatureCollection>(&mut s);
    add::<Feature>(&mut s);
    add::<WebhookList>(&mut s);
    add::<Webhook>(&mut s);
    add::<DeliveryList>(&mut s);
    add::<push::VapidKey>(&mut s);
    add::<push::NewSubscription>(&mut s);
    add::<push::SubscriptionList>(&mut s);
    add::<crate::services::push::PushSubscription>(&mut s);
    add::<tc::TraccarUser>(&mut s);
    add::<tc_server::TraccarServer>(&mut s);
    add::<tc::TraccarDevice>(&mut s);
    add::<tc::TraccarPosition>(&mut s);
    add::<tc::TraccarGeofence>(&mut s);
    add::<tc::TraccarEvent>(&mut s);
    add::<tc_commands::TraccarCommand>(&mut s);
    add::<tc_commands::CommandType>(&mut s);
    add::<places::CameraList>(&mut s);
    add::<Camera>(&mut s);
    add::<places::CheckpointList>(&mut s);
    add::<Checkpoint>(&mut s);
    add::<ImportReport>(&mut s);
    add::<AlarmLinkage>(&mut s);
    add::<linkage::InterceptAnswer>(&mut s);
    add::<linkage::CamerasPassed>(&mut s);
    add::<stats::AlarmStats>(&mut s);
    add::<stats::UnitStats>(&mut s);
    s
}

/// Query parameters and request body schema of a route, by route name.
fn route_io(name: &str) -> (Vec<utoipa::openapi::path::Parameter>, Option<RefOr<Schema>>) {
    let q = Some(ParameterIn::Query);
    match name {
        "session.login" => (vec![], Some(auth::LoginRequest::schema())),
        "users.list" => (users::UsersQuery::into_params(|| q.clone()), None),
        "users.create" => (vec![], Some(users::CreateUser::schema())),
        "users.units" => (vec![], Some(users::SetUnits::schema())),
        "keys.create" => (vec![], Some(keys::CreateKey::schema())),
        "devices.list" => (devices::ListQuery::into_params(|| q.clone()), None),
        "devices.create" => (vec![], Some(devices::CreateDevice::schema())),
        "devices.owner" => (vec![], Some(devices::SetOwner::schema())),
        "devices.share" => (vec![], Some(devices::ShareBody::schema())),
        "positions.range" => (devices::PositionsQuery::into_params(|| q.clone()), None),
        "commands.create" => (
            vec![],
            Some(crate::services::commands::CommandRequest::schema()),
        ),
        "commands.list" | "audit.device" | "audit.list" => {
            (commands::PageQuery::into_params(|| q.clone()), None)
        }
        "trajectory.get" => (trajectory::TrajectoryQuery::into_params(|| q.clone()), None),
        "trajectory.trips" => (trajectory::TripsQuery::into_params(|| q.clone()), None),
        "trajectory.summary" => (trajectory::SummaryQuery::into_params(|| q.clone()), None),
        "events.list" => (events::EventsQuery::into_params(|| q.clone()), None),
        "users.update_me" => (vec![], Some(users::UpdateMe::schema())),
        "alarms.list" => (alarms::ListQuery::into_params(|| q.clone()), None),
        "alarms.assign" => (vec![], Some(alarms::AssignBody::schema())),
        "guard.arm" => (vec![], Some(alarms::ArmBody::schema())),
        "alarms.resolve" => (vec![], Some(alarms::ResolveBody::schema())),
        "guard.speed_limit" => (vec![], Some(alarms::SpeedLimitBody::schema())),
        "units.create" => (vec![], Some(units::CreateUnit::schema())),
        "units.update" => (vec![], Some(units::UpdateUnit::schema())),
        "fences.create" | "fences.update" => (vec![], Some(geojson_feature_schema())),
        "fences.assign" => (vec![], Some(fences::AssignFence::schema())),
        "webhooks.create" => (
            vec![],
            Some(crate::transport::http::handlers::webhooks::CreateWebhook::schema()),
        ),
        "push.subscribe" => (vec![], Some(push::NewSubscription::schema())),
        "push.unsubscribe" => (vec![], Some(push::RemoveSubscription::schema())),
        "stream" => (
            crate::transport::http::handlers::stream::StreamQuery::into_params(|| q.clone()),
            None,
        ),
        "traccar.commands.send" => (vec![], Some(tc_commands::TraccarCommand::schema())),
        "cameras.list" | "checkpoints.list" => {
            (places::PlaceQuery::into_params(|| q.clone()), None)
        }
        "cameras.create" | "cameras.update" => (vec![], Some(place_schema(true))),
        "checkpoints.create" | "checkpoints.update" => (vec![], Some(place_schema(false))),
        "cameras.import" | "checkpoints.import" => (
            places::ImportQuery::into_params(|| q.clone()),
            Some(import_schema()),
        ),
        "alarms.intercept" => (vec![], Some(linkage::InterceptBody::schema())),
        "devices.cameras_passed" => (linkage::PassedQuery::into_params(|| q.clone()), None),
        "stats.alarms" => (stats::AlarmStatsQuery::into_params(|| q.clone()), None),
        "stats.units" => (stats::UnitStatsQuery::into_params(|| q.clone()), None),
        _ => (vec![], None),
    }
}

/// A GeoJSON Feature (validated by the handler: Polygon/MultiPolygon or a circle).
fn geojson_feature_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", ObjectBuilder::new().schema_type(Type::String))
            .property("geometry", ObjectBuilder::new().schema_type(Type::Object))
            .property("properties", ObjectBuilder::new().schema_type(Type::Object))
            .required("type")
            .required("geometry")
            .description(Some(
                "GeoJSON Feature; properties: kind, name, unit_id (jurisdictions)",
            ))
            .build(),
    ))
}

/// A camera or checkpoint body (the fields of an import row, WGS-84).
fn place_schema(camera: bool) -> RefOr<Schema> {
    let num = || ObjectBuilder::new().schema_type(Type::Number);
    let text = || ObjectBuilder::new().schema_type(Type::String);
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("code", text())
        .property("name", text())
        .property("lat", num().minimum(Some(-90.0)).maximum(Some(90.0)))
        .property("lon", num().minimum(Some(-180.0)).maximum(Some(180.0)))
        .property("unit_id", ObjectBuilder::new().schema_type(Type::Integer))
        .required("code")
        .required("lat")
        .required("lon");
    if camera {
        o = o
            .property(
                "facing",
                ObjectBuilder::new().description(Some(
                    "degrees clockwise from north, or N/NE/E/SE/S/SW/W/NW (北/东北/…); absent = unknown",
                )),
            )
            .property(
                "direction_type",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1.0))
                    .maximum(Some(8.0))
                    .description(Some("GB/T 28181 DirectionType: 1 E, 2 W, 3 S, 4 N, 5 SE, 6 NE, 7 SW, 8 NW")),
            )
            .property("fov_deg", num().description(Some("default 90")))
            .property("range_m", num().description(Some("default 60")))
            .property(
                "kind",
                text().enum_values(Some(["public", "institution", "social", "rural", "traffic"])),
            )
            .property("video_device_id", text())
            .property("video_channel_id", text())
            .required("kind");
    } else {
        o = o.property(
            "staffed_hours",
            text().description(Some("HH:MM-HH:MM local time")),
        );
    }
    RefOr::T(Schema::Object(o.build()))
}

/// An import body: a GeoJSON FeatureCollection of Points (or, as `text/csv`, a CSV file with a
/// header row naming the same fields).
fn import_schema() -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", ObjectBuilder::new().schema_type(Type::String))
            .property("features", ObjectBuilder::new().schema_type(Type::Array))
            .required("type")
            .required("features")
            .description(Some(
                "GeoJSON FeatureCollection of Points, properties as the create body; or send text/csv with a header row (code,name,lat,lon,…)",
            ))
            .build(),
    ))
}

fn error_schema() -> Schema {
    let inner = ObjectBuilder::new()
        .property("code", ObjectBuilder::new().schema_type(Type::String))
        .property("message", ObjectBuilder::new().schema_type(Type::String))
        .required("code")
        .required("message");
    Schema::Object(
        ObjectBuilder::new()
            .property("error", inner)
            .required("error")
            .build(),
    )
}

/// Builds the document.
pub fn document() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for r in ROUTES {
        let (query, body) = route_io(r.name);
        let mut op = OperationBuilder::new()
            .operation_id(Some(r.name))
            .tag(r.name.split('.').next().unwrap_or("api"))
            .summary(Some(format!(
                "{} (access: {:?}; API key: {})",
                r.name, r.access, r.scope
            )));
        for seg in r.path.split('/') {
            if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(p)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
                        // Row ids start at 1: schemathesis' example phase then reaches the
                        // objects its run script creates, so their answers are checked too.
                        .example(Some(serde_json::json!(1)))
                        .schema(Some(
                            ObjectBuilder::new().schema_type(Type::Integer).format(Some(
                                utoipa::openapi::SchemaFormat::KnownFormat(
                                    utoipa::openapi::KnownFormat::Int64,
                                ),
                            )),
                        )),
                );
            }
        }
        for p in query {
            op = op.parameter(p);
        }
        if let Some(schema) = body {
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    // Arming without a body uses the latest fix.
                    .required(Some(if r.name == "guard.arm" {
                        Required::False
                    } else {
                        Required::True
                    }))
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(schema)).build(),
                    )
                    .build(),
            ));
        }
        let ok = match (r.method, r.name) {
            (_, "stream" | "traccar.socket") => {
                ("101", "WebSocket upgrade; JSON text frames follow")
            }
            (_, "traccar.commands.send") => (
                "200",
                "sent to the online device (202 with the same body: queued for an offline one)",
            ),
            (_, "traccar.session.token") => ("200", "the bearer token, as text/plain"),
            (Method::Post, _) if r.surface == Surface::Traccar => ("200", "ok"),
            (Method::Delete, _) | (_, "guard.speed_limit" | "fences.assign") => ("204", "done"),
            (
                _,
                "alarms.ack" | "alarms.assign" | "alarms.resolve" | "guard.arm" | "guard.disarm"
                | "cameras.import" | "checkpoints.import",
            ) => ("200", "ok"),
            (_, "alarms.intercept") => (
                "201",
                "requested (200 with `created: false` and the existing request when this checkpoint was already asked)",
            ),
            (_, "session.login") | (Method::Post, _) => ("201", "created"),
            _ => ("200", "ok"),
        };
        let ok_response = if matches!(ok.0, "204" | "101") {
            ResponseBuilder::new().description(ok.1).build()
        } else if r.name == "traccar.session.token" {
            ResponseBuilder::new()
                .description(ok.1)
                .content(
                    "text/plain",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build()
        } else if matches!(r.name, "trajectory.get") {
            ResponseBuilder::new()
                .description(
                    "`format=json` (default): JSON points; `geojson`: a FeatureCollection with a \
                     LineString of the track and one Point per fix; `gpx`: GPX 1.1 (one track). \
                     The next page's `after` is in the `X-Next-After` header (and `next_after` in JSON).",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(response_schema(r.name))
                        .build(),
                )
                .content(
                    "application/geo+json",
                    ContentBuilder::new()
                        .schema(schema_ref::<FeatureCollection>())
                        .build(),
                )
                .content(
                    "application/gpx+xml",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                        .build(),
                )
                .build()
        } else {
            let mut content = ContentBuilder::new();
            if let Some(schema) = response_schema(r.name) {
                content = content.schema(Some(schema));
            }
            ResponseBuilder::new()
                .description(ok.1)
                .content("application/json", content.build())
                .build()
        };
        op = op.response(ok.0, ok_response);
        // A login answers 201 for a known user; devices.share answers 201 when shared anew.
        let mut errors = vec![("400", "bad input"), ("404", "not found or not visible")];
        if r.access != Access::Public {
            errors.push(("401", "no or bad credentials"));
            errors.push(("403", "not allowed"));
        } else {
            errors.push(("401", "wrong email or password"));
            errors.push(("429", "too many failed logins from here (see Retry-After)"));
        }
        if matches!(
            r.name,
            "devices.create"
                | "users.create"
                | "commands.create"
                | "units.create"
                | "units.update"
                | "alarms.ack"
                | "alarms.assign"
                | "alarms.resolve"
                | "guard.arm"
                | "alarms.intercept"
                | "cameras.create"
                | "cameras.update"
                | "checkpoints.create"
                | "checkpoints.update"
        ) {
            errors.push((
                "409",
                "conflict (exists, vehicle moving, alarm resolved, no position)",
            ));
        }
        errors.push((
            "503",
            "database unavailable, or (logins) password checks saturated; see Retry-After",
        ));
        for (code, what) in errors {
            op = op.response(
                code,
                ResponseBuilder::new().description(what).content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Error")))
                        .build(),
                ),
            );
        }
        if r.access != Access::Public {
            op = op.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
            if r.surface == Surface::Traccar {
                op = op.security(SecurityRequirement::new("basic", Vec::<String>::new()));
            }
        }
        let method = match r.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Put => HttpMethod::Put,
            Method::Delete => HttpMethod::Delete,
        };
        paths = paths.path(r.full_path(), PathItem::new(method, op));
    }
    let mut schemas = components();
    <crate::domain::Role as ToSchema>::schemas(&mut schemas);
    let mut components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .schema(crate::domain::Role::name(), crate::domain::Role::schema())
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a session token from POST /api/v1/session, or an API key vk_…",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "login name and password (the Traccar-compatible routes under /api)",
                    ))
                    .build(),
            ),
        );
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Vigil API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "GPS tracker gateway and anti-theft alarm server. Errors are always {\"error\":{\"code\",\"message\"}}; times ISO-8601 UTC.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

/// The Swagger UI service (`/api/v1/docs/`) serving [`document`] at `/api/v1/openapi.json`.
pub fn swagger_ui() -> utoipa_swagger_ui::SwaggerUi {
    utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs/{_:.*}").url("/api/v1/openapi.json", document())
}
