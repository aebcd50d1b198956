//! Patrol-unit storage on either engine (same SQL text for both): the units alarms are routed
//! to, and the default unit for alarms outside every jurisdiction.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::units::PatrolUnit;
use crate::storage::on_pool;
use crate::storage::{Db, DbError};

/// A `patrol_units` row as read.
#[derive(sqlx::FromRow)]
struct UnitRecord {
    id: i64,
    name: String,
    is_default: bool,
    created_at: DateTime<Utc>,
}

impl From<UnitRecord> for PatrolUnit {
    fn from(r: UnitRecord) -> Self {
        PatrolUnit {
            id: r.id,
            name: r.name,
            is_default: r.is_default,
            created_at: r.created_at,
        }
    }
}

/// Creates a patrol unit (a new default unit replaces the previous default).
pub async fn create_unit(db: &Db, name: &str, is_default: bool) -> Result<PatrolUnit, DbError> {
    let now = Utc::now();
    let res: Result<PatrolUnit, sqlx::Error> = on_pool!(db, p => {
        if is_default {
            sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE is_default = $2").bind(false).bind(true).execute(p).await?;
        }
        match sqlx::query("INSERT INTO patrol_units (name, is_default, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(name).bind(is_default).bind(now).fetch_one(p).await {
            Ok(r) => r.try_get("id").map(|id| PatrolUnit { id, name: name.to_owned(), is_default, created_at: now }),
            Err(e) => Err(e),
        }
    });
    match res {
        Ok(u) => Ok(u),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            Err(DbError::Conflict("patrol unit"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Renames a unit and/or changes its default flag (a new default replaces the previous one);
/// `None` when there is no such unit.
pub async fn update_unit(
    db: &Db,
    id: i64,
    name: Option<&str>,
    is_default: Option<bool>,
) -> Result<Option<PatrolUnit>, DbError> {
    let res: Result<(), sqlx::Error> = on_pool!(db, p => {
        let mut tx = p.begin().await?;
        if let Some(n) = name
            && let Err(e) = sqlx::query("UPDATE patrol_units SET name = $1 WHERE id = $2").bind(n).bind(id).execute(&mut *tx).await
        {
            return match e {
                sqlx::Error::Database(d) if d.is_unique_violation() => Err(DbError::Conflict("patrol unit")),
                e => Err(e.into()),
            };
        }
        if let Some(d) = is_default {
            if d {
                sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE is_default = $2 AND id <> $3").bind(false).bind(true).bind(id).execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE patrol_units SET is_default = $1 WHERE id = $2").bind(d).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await
    });
    res?;
    Ok(units(db).await?.into_iter().find(|u| u.id == id))
}

/// Deletes a unit (its alarms and jurisdiction fences keep existing without a unit); false
/// when there was none.
pub async fn delete_unit(db: &Db, id: i64) -> Result<bool, DbError> {
    Ok(on_pool!(db, p => {
        let mut tx = p.begin().await?;
        // Explicit rather than relying on ON DELETE SET NULL, so both engines agree even if a
        // connection runs without foreign keys.
        sqlx::query("UPDATE alarms SET unit_id = NULL WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("UPDATE fences SET unit_id = NULL WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM unit_members WHERE unit_id = $1").bind(id).execute(&mut *tx).await?;
        let n = sqlx::query("DELETE FROM patrol_units WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        n > 0
    }))
}

/// Every patrol unit.
pub async fn units(db: &Db) -> Result<Vec<PatrolUnit>, DbError> {
    let rows = on_pool!(db, p => {
        sqlx::query_as::<_, UnitRecord>("SELECT id, name, is_default, created_at FROM patrol_units ORDER BY id").fetch_all(p).await?
    });
    Ok(rows.into_iter().map(PatrolUnit::from).collect())
}

/// The default unit's id.
pub async fn default_unit(db: &Db) -> Result<Option<i64>, DbError> {
    Ok(on_pool!(db, p => {
        match sqlx::query("SELECT id FROM patrol_units WHERE is_default = $1 ORDER BY id LIMIT 1").bind(true).fetch_optional(p).await? {
            Some(r) => Some(r.try_get::<i64, _>("id")?),
            None => None,
        }
    }))
}
