//! Tests of the settings: defaults, environment overrides, validation.

use super::*;

#[test]
fn defaults_validate_and_listen_where_traccar_does() {
    let s = Settings::default();
    s.validate().unwrap();
    assert_eq!(s.max_future_secs, 600);
    assert_eq!(
        s.retention_config().positions,
        Some(chrono::Duration::days(365))
    );
    assert_eq!(
        s.retention_config().events,
        Some(chrono::Duration::days(90))
    );
    let forever = Settings {
        positions_retention_days: 0,
        ..Settings::default()
    };
    assert_eq!(forever.retention_config().positions, None);
    assert_eq!(s.database_kind().unwrap(), DatabaseKind::Sqlite);
    assert_eq!(
        parse_listen("gt06_listen", &s.gt06_listen).unwrap(),
        Some("0.0.0.0:5023".parse().unwrap())
    );
}

#[test]
#[allow(clippy::result_large_err)] // figment's Jail API
fn env_overrides_file_and_errors_name_the_variable() {
    figment::Jail::expect_with(|jail| {
        // The developer's own VIGIL_* variables must not leak into the test.
        jail.clear_env();
        jail.create_file(
            "vigil.toml",
            "gt06_listen = \"127.0.0.1:6000\"\nbatch_max_size = 10",
        )?;
        jail.set_env("VIGIL_BATCH_MAX_SIZE", "20");
        let s = Settings::load(Some(Path::new("vigil.toml"))).unwrap();
        assert_eq!(s.gt06_listen, "127.0.0.1:6000");
        assert_eq!(s.batch_max_size, 20);
        jail.set_env("VIGIL_MAX_FUTURE_SECS", "120");
        let s = Settings::load(None).unwrap();
        assert_eq!(s.max_future_secs, 120);
        assert_eq!(
            s.fix_time_window().max_future,
            chrono::TimeDelta::seconds(120)
        );
        jail.set_env("VIGIL_MAX_FUTURE_SECS", "99999999");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(err.contains("VIGIL_MAX_FUTURE_SECS"), "{err}");
        jail.set_env("VIGIL_MAX_FUTURE_SECS", "600");
        jail.set_env("VIGIL_H02_LISTEN", "nonsense");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(err.contains("VIGIL_H02_LISTEN"), "{err}");
        jail.set_env("VIGIL_H02_LISTEN", "off");
        jail.set_env("VIGIL_POSITIONS_RETENTION_DAYS", "40000");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(err.contains("VIGIL_POSITIONS_RETENTION_DAYS"), "{err}");
        jail.set_env("VIGIL_POSITIONS_RETENTION_DAYS", "30");
        jail.set_env("VIGIL_EVENTS_RETENTION_DAYS", "0");
        let s = Settings::load(None).unwrap();
        assert_eq!(
            (s.positions_retention_days, s.events_retention_days),
            (30, 0)
        );
        jail.set_env("VIGIL_CUT_POWER_WHEN_MOVING", "hold");
        assert_eq!(
            Settings::load(None).unwrap().cut_power_when_moving,
            CutPowerPolicy::Hold
        );
        jail.set_env("VIGIL_VIDEO_PLAYBACK_URL", "http://wvp/{camera}");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(err.contains("VIGIL_VIDEO_PLAYBACK_URL"), "{err}");
        jail.set_env(
            "VIGIL_VIDEO_PLAYBACK_URL",
            "http://wvp/api/playback/start/{device}/{channel}?startTime={from}&endTime={to}",
        );
        jail.set_env("VIGIL_ROUTE_DETOUR_FACTOR", "0.5");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(err.contains("VIGIL_ROUTE_DETOUR_FACTOR"), "{err}");
        jail.set_env("VIGIL_ROUTE_DETOUR_FACTOR", "1.5");
        let l = Settings::load(None).unwrap().linkage_config();
        assert_eq!((l.detour_factor, l.horizon.as_secs()), (1.5, 900));
        jail.set_env("VIGIL_CUT_POWER_WHEN_MOVING", "sometimes");
        let err = Settings::load(None).unwrap_err().to_string();
        assert!(
            err.to_lowercase().contains("cut_power_when_moving") && err.contains("refuse"),
            "{err}"
        );
        Ok(())
    });
}
