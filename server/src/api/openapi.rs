//! The OpenAPI 3 document, generated from the route table ([`super::table::ROUTES`]) and the
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

use super::table::{Access, Method, ROUTES};
use super::{alarms, auth, commands, devices, events, fences, keys, trajectory, units, users};

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
        "commands.create" => (vec![], Some(crate::commands::CommandRequest::schema())),
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
        "webhooks.create" => (vec![], Some(crate::webhooks::CreateWebhook::schema())),
        "stream" => (crate::stream::StreamQuery::into_params(|| q.clone()), None),
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
            .summary(Some(format!("{} (access: {:?})", r.name, r.access)));
        for seg in r.path.split('/') {
            if let Some(p) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(p)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True)
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
            (_, "stream") => ("101", "WebSocket upgrade; JSON text frames follow"),
            (Method::Delete, _) | (_, "guard.speed_limit" | "fences.assign") => ("204", "done"),
            (
                _,
                "alarms.ack" | "alarms.assign" | "alarms.resolve" | "guard.arm" | "guard.disarm",
            ) => ("200", "ok"),
            (_, "session.login") | (Method::Post, _) => ("201", "created"),
            _ => ("200", "ok"),
        };
        let ok_response = if matches!(ok.0, "204" | "101") {
            ResponseBuilder::new().description(ok.1).build()
        } else if matches!(r.name, "trajectory.get") {
            ResponseBuilder::new()
                .description("JSON, GeoJSON or GPX by `format`")
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
                .content(
                    "application/geo+json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
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
            ResponseBuilder::new()
                .description(ok.1)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
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
            errors.push(("429", "too many failed logins"));
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
        ) {
            errors.push((
                "409",
                "conflict (exists, vehicle moving, alarm resolved, no position)",
            ));
        }
        errors.push(("503", "database unavailable"));
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
        }
        let method = match r.method {
            Method::Get => HttpMethod::Get,
            Method::Post => HttpMethod::Post,
            Method::Put => HttpMethod::Put,
            Method::Delete => HttpMethod::Delete,
        };
        paths = paths.path(format!("/api/v1{}", r.path), PathItem::new(method, op));
    }
    let mut schemas = Vec::new();
    <crate::db::Role as ToSchema>::schemas(&mut schemas);
    let mut components = ComponentsBuilder::new()
        .schema("Error", error_schema())
        .schema(crate::db::Role::name(), crate::db::Role::schema())
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
