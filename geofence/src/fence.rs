//! Fences: a shape plus who owns it and what crossing it means.

use geo::Coord;
use serde::{Deserialize, Serialize};

use crate::shape::{FenceShape, Side};

/// Server-wide unique fence identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FenceId(pub u64);

impl std::fmt::Display for FenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a fence is for, which decides which transitions raise an alarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FenceKind {
    /// The device must stay inside: alarm on leaving.
    KeepIn,
    /// The device must stay outside: alarm on entering.
    KeepOut,
    /// Alarm on both entering and leaving.
    Watch,
    /// No alarm; answers "whose area is this point in" (e.g. a patrol unit's district).
    Jurisdiction,
}

impl FenceKind {
    /// Whether an `Enter` (`entering = true`) or `Exit` of this kind of fence is an alarm.
    pub fn alarms_on(self, entering: bool) -> bool {
        match self {
            FenceKind::KeepIn => !entering,
            FenceKind::KeepOut => entering,
            FenceKind::Watch => true,
            FenceKind::Jurisdiction => false,
        }
    }

    /// The GeoJSON `kind` property value.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceKind::KeepIn => "keep_in",
            FenceKind::KeepOut => "keep_out",
            FenceKind::Watch => "watch",
            FenceKind::Jurisdiction => "jurisdiction",
        }
    }

    /// Parses a GeoJSON `kind` property value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "keep_in" => FenceKind::KeepIn,
            "keep_out" => FenceKind::KeepOut,
            "watch" => FenceKind::Watch,
            "jurisdiction" => FenceKind::Jurisdiction,
            _ => return None,
        })
    }
}

/// A fence: id, owner, kind, optional name and a validated shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fence {
    /// Unique id.
    pub id: FenceId,
    /// Owning tenant (0 when unused); lets the server filter without a set lookup.
    pub tenant: u64,
    /// What crossing it means.
    pub kind: FenceKind,
    /// Human-readable name.
    pub name: Option<String>,
    /// The geometry.
    pub shape: FenceShape,
}

impl Fence {
    /// A fence of tenant 0 with no name.
    pub fn new(id: FenceId, kind: FenceKind, shape: FenceShape) -> Self {
        Fence {
            id,
            tenant: 0,
            kind,
            name: None,
            shape,
        }
    }

    /// Sets the owning tenant.
    pub fn with_tenant(mut self, tenant: u64) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sets the name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Whether the fence contains the position (boundary counts as inside).
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        self.shape.contains(Coord { x: lon, y: lat })
    }

    /// Inside/outside by at least `margin_m`, or near the boundary.
    pub fn classify(&self, lon: f64, lat: f64, margin_m: f64) -> Side {
        self.shape.classify(Coord { x: lon, y: lat }, margin_m)
    }
}
