//! The two dialects' migrations build the same schema: both databases are migrated from empty
//! and read back through their catalogues — tables, columns (types normalised to SQLite's
//! storage classes), nullability, primary keys, indexes (as column lists, unique or not),
//! foreign keys (with their ON DELETE) and CHECK constraints (as the literals they allow) — and
//! any difference fails, naming it. Until now only a comment kept them in step.
//!
//! The differences that are meant are listed in [`INTENDED`], each with its reason. PostgreSQL's
//! partitions (of `positions`) are left out: the partitioned table stands for them.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, Row};

use crate::helpers::{Backend, TestDb, spawn_app};

/// One table as both catalogues can describe it.
#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    /// name → (normalised type, not null, part of the primary key).
    columns: BTreeMap<String, (String, bool, bool)>,
    /// (unique, key columns), names left out: automatic index names differ per engine.
    indexes: BTreeSet<(bool, Vec<String>)>,
    /// (columns, referenced table, referenced columns, on delete).
    foreign_keys: BTreeSet<(Vec<String>, String, Vec<String>, String)>,
    /// Each CHECK constraint as the sorted literals it mentions.
    checks: BTreeSet<Vec<String>>,
}

/// Differences between the dialects that are meant, as `(table, what, columns)`: checked to be
/// present (a stale entry fails too), then removed before the comparison.
const INTENDED: &[(&str, &str, &str)] = &[
    // SQLite stores positions clustered by (device_id, fix_time) (a WITHOUT ROWID table whose
    // primary key is the unique key: one B-tree to write per fix, migration 8); PostgreSQL's
    // positions is partitioned by fix_time (migration 0008) and a partitioned table's keys
    // must contain the partition key, so there `id` is no key either and the unique
    // (device_id, fix_time) index carries the track columns as INCLUDE. Same columns, same
    // uniqueness.
    ("positions", "sqlite clustered", "device_id,fix_time"),
    // Where SQLite's position ids come from (PostgreSQL: the identity column's sequence).
    ("positions_seq", "sqlite table", "last_id"),
];

fn normalise_type(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    match t.as_str() {
        "bigint" | "integer" | "int" | "int4" | "int8" | "smallint" | "boolean" => "integer",
        "double precision" | "real" | "float8" => "real",
        "text" | "character varying" | "jsonb" | "json" | "timestamp with time zone" => "text",
        "bytea" | "blob" => "blob",
        other => return other.to_owned(),
    }
    .to_owned()
}

/// The quoted strings of a CHECK expression, sorted: `role IN ('a', 'b')` and PostgreSQL's
/// `CHECK ((role = ANY (ARRAY['a'::text, 'b'::text])))` both give `[a, b]`. (Every CHECK in the
/// schema is a list of allowed strings; numbers are not compared, PostgreSQL re-quotes them.)
fn literals(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lit = String::new();
        while let Some(d) = chars.next() {
            if d == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                    continue;
                }
                break;
            }
            lit.push(d);
        }
        out.push(lit);
    }
    out.sort();
    out
}

/// The CHECK expressions of a SQLite `CREATE TABLE` text (balanced parentheses after the
/// keyword `CHECK`; words that contain it — `checkpoints`, a comment's "checked" — are not it).
fn sqlite_checks(sql: &str) -> Vec<String> {
    let upper = sql.to_ascii_uppercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = upper[from..].find("CHECK") {
        let start = from + i + "CHECK".len();
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        let before_ok = !upper[..from + i].chars().next_back().is_some_and(word);
        let rest = upper[start..].trim_start();
        if !before_ok || !rest.starts_with('(') {
            from = start;
            continue;
        }
        let Some(open) = sql[start..].find('(') else {
            break;
        };
        let mut depth = 0;
        let mut end = start + open;
        for (j, c) in sql[start + open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = start + open + j;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push(sql[start + open..=end].to_owned());
        from = end + 1;
    }
    out
}

async fn sqlite_schema(url: &str) -> BTreeMap<String, Table> {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT LIKE '_sqlx_%' ORDER BY name",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for (name, sql) in tables {
        let mut t = Table::default();
        let cols = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{name}')"
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in cols {
            let pk: i64 = r.get("pk");
            let notnull: i64 = r.get("notnull");
            let ty: String = r.get("type");
            // A primary key column is NOT NULL on both engines (SQLite's rowid alias is).
            t.columns.insert(
                r.get("name"),
                (normalise_type(&ty), notnull == 1 || pk > 0, pk > 0),
            );
        }
        let idx = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT name, \"unique\", origin FROM pragma_index_list('{name}')"
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in idx {
            let origin: String = r.get("origin");
            if origin == "pk" {
                continue;
            }
            let iname: String = r.get("name");
            let unique: i64 = r.get("unique");
            let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_index_info('{iname}') ORDER BY seqno"
            )))
            .fetch_all(&mut c)
            .await
            .unwrap();
            t.indexes.insert((unique == 1, cols));
        }
        let fks = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list('{name}') \
             ORDER BY id, seq"
        )))
        .fetch_all(&mut c)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, (Vec<String>, String, Vec<String>, String)> = BTreeMap::new();
        for r in fks {
            let e = by_id.entry(r.get("id")).or_insert_with(|| {
                (
                    Vec::new(),
                    r.get("table"),
                    Vec::new(),
                    r.get::<String, _>("on_delete").to_ascii_uppercase(),
                )
            });
            e.0.push(r.get("from"));
            // A reference without a column list names the primary key.
            e.2.push(
                r.get::<Option<String>, _>("to")
                    .unwrap_or_else(|| "id".into()),
            );
        }
        t.foreign_keys = by_id.into_values().collect();
        t.checks = sqlite_checks(&sql).iter().map(|e| literals(e)).collect();
        out.insert(name, t);
    }
    c.close().await.unwrap();
    out
}

async fn postgres_schema(url: &str) -> BTreeMap<String, Table> {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' \
         AND table_type = 'BASE TABLE' AND table_name NOT LIKE '_sqlx_%' \
         AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.relname = table_name AND c.relispartition) ORDER BY 1",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for name in tables {
        let mut t = Table::default();
        let pk: Vec<String> = sqlx::query_scalar(
            "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             AND a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .unwrap();
        let cols = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS ty, is_nullable::text AS nullable \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in cols {
            let col: String = r.get("name");
            let nullable: String = r.get("nullable");
            let is_pk = pk.contains(&col);
            t.columns.insert(
                col,
                (
                    normalise_type(&r.get::<String, _>("ty")),
                    nullable == "NO",
                    is_pk,
                ),
            );
        }
        // Key columns only (INCLUDE columns are listed past indnkeyatts).
        let idx = sqlx::query(
            "SELECT i.indisunique AS uniq, ARRAY(SELECT a.attname::text FROM unnest(i.indkey[0:i.indnkeyatts - 1]) \
             WITH ORDINALITY AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             ORDER BY k.n) AS cols FROM pg_index i WHERE i.indrelid = $1::regclass AND NOT i.indisprimary",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in idx {
            t.indexes.insert((r.get("uniq"), r.get("cols")));
        }
        let cons = sqlx::query(
            "SELECT contype::text AS kind, pg_get_constraintdef(oid) AS def, confrelid::regclass::text AS ref, \
             confdeltype::text AS del, \
             ARRAY(SELECT a.attname::text FROM unnest(conkey) WITH ORDINALITY AS k(attnum, n) \
               JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.attnum ORDER BY k.n) AS cols, \
             ARRAY(SELECT a.attname::text FROM unnest(confkey) WITH ORDINALITY AS k(attnum, n) \
               JOIN pg_attribute a ON a.attrelid = confrelid AND a.attnum = k.attnum ORDER BY k.n) AS refcols \
             FROM pg_constraint WHERE conrelid = $1::regclass",
        )
        .bind(&name)
        .fetch_all(&mut c)
        .await
        .unwrap();
        for r in cons {
            match r.get::<String, _>("kind").as_str() {
                "f" => {
                    let del = match r.get::<String, _>("del").as_str() {
                        "c" => "CASCADE",
                        "n" => "SET NULL",
                        "d" => "SET DEFAULT",
                        "r" => "RESTRICT",
                        _ => "NO ACTION",
                    };
                    t.foreign_keys.insert((
                        r.get("cols"),
                        r.get("ref"),
                        r.get("refcols"),
                        del.to_owned(),
                    ));
                }
                "c" => {
                    t.checks.insert(literals(&r.get::<String, _>("def")));
                }
                _ => {}
            }
        }
        out.insert(name, t);
    }
    c.close().await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_dialects_migrate_to_the_same_schema() {
    let mut schemas = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        // The server migrates its database at start, as in production.
        let app = spawn_app(&db).await;
        app.stop().await;
        schemas.push(match backend {
            Backend::Sqlite => sqlite_schema(&db.url).await,
            Backend::Postgres => postgres_schema(&db.url).await,
        });
    }
    let postgres = schemas.pop().unwrap();
    let mut sqlite = schemas.pop().unwrap();
    for (table, what, cols) in INTENDED {
        let cols: Vec<String> = cols.split(',').map(str::to_owned).collect();
        match *what {
            "sqlite index" => {
                let t = sqlite
                    .get_mut(*table)
                    .expect("intended difference on a missing table");
                assert!(
                    t.indexes.remove(&(false, cols.clone())),
                    "stale INTENDED entry: {table} has no index on {cols:?}"
                );
            }
            "sqlite clustered" => {
                // Described as PostgreSQL has it: no primary key, a unique index on `cols`.
                let t = sqlite
                    .get_mut(*table)
                    .expect("intended difference on a missing table");
                let key: Vec<String> = t
                    .columns
                    .iter()
                    .filter(|(_, c)| c.2)
                    .map(|(n, _)| n.clone())
                    .collect();
                let mut want = cols.clone();
                want.sort();
                assert_eq!(key, want, "stale INTENDED entry: {table}'s primary key");
                for c in &cols {
                    if let Some(col) = t.columns.get_mut(c) {
                        col.2 = false;
                    }
                }
                let id = t.columns.get_mut("id").expect("an id column");
                assert!(!id.2 && id.1, "{table}.id: not null, not the key");
                t.indexes.insert((true, cols.clone()));
            }
            "sqlite table" => {
                let t = sqlite
                    .remove(*table)
                    .expect("stale INTENDED entry: no such SQLite table");
                let names: Vec<String> = t.columns.into_keys().collect();
                assert_eq!(names, cols, "stale INTENDED entry: {table}'s columns");
            }
            other => panic!("unknown INTENDED kind {other}"),
        }
    }
    let mut diffs = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => {
                let cols: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
                for c in cols {
                    if s.columns.get(c) != p.columns.get(c) {
                        diffs.push(format!(
                            "{name}.{c}: sqlite {:?} vs postgres {:?} (type, not null, pk)",
                            s.columns.get(c),
                            p.columns.get(c)
                        ));
                    }
                }
                for (what, a, b) in [
                    (
                        "indexes",
                        format!("{:?}", s.indexes),
                        format!("{:?}", p.indexes),
                    ),
                    (
                        "foreign keys",
                        format!("{:?}", s.foreign_keys),
                        format!("{:?}", p.foreign_keys),
                    ),
                    (
                        "checks",
                        format!("{:?}", s.checks),
                        format!("{:?}", p.checks),
                    ),
                ] {
                    if a != b {
                        diffs.push(format!("{name} {what}: sqlite {a} vs postgres {b}"));
                    }
                }
            }
            (s, _) => diffs.push(format!(
                "table {name} only in {}",
                if s.is_some() { "sqlite" } else { "postgres" }
            )),
        }
    }
    assert!(
        diffs.is_empty(),
        "the dialects' schemas differ:\n{}",
        diffs.join("\n")
    );
    // The catalogues were read, not merely both empty.
    assert!(sqlite.len() >= 10, "{:?}", sqlite.keys());
    let positions = &postgres["positions"];
    assert!(positions.columns.len() >= 10 && !positions.foreign_keys.is_empty());
    assert!(
        positions
            .indexes
            .contains(&(true, vec!["device_id".into(), "fix_time".into()]))
    );
    assert!(
        postgres["users"]
            .checks
            .iter()
            .any(|c| c.contains(&"dispatcher".to_owned()))
    );
}

#[test]
fn check_literals_read_alike_in_both_dialects() {
    assert_eq!(
        literals("(role IN ('admin', 'user'))"),
        literals("CHECK ((role = ANY (ARRAY['admin'::text, 'user'::text])))")
    );
    assert_eq!(literals("(a IN ('it''s', 'b'))"), ["b", "it's"]);
    assert_eq!(
        sqlite_checks("CREATE TABLE t (a TEXT CHECK (a IN ('x', 'y')), b INT CHECK (b > (1)))"),
        ["(a IN ('x', 'y'))", "(b > (1))"]
    );
    assert_eq!(
        sqlite_checks(
            "CREATE TABLE checkpoints (-- (checked later)\n checkpoint_id INT, k TEXT CHECK(k IN ('a')))"
        ),
        ["(k IN ('a'))"]
    );
}
