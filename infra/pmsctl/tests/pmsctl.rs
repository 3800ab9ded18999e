//! `pmsctl` as an operator runs it, against a stack provisioned from `template.yaml` on moto.
//! Needs the moto server `make test` starts (`PMS_TEST_AWS_ENDPOINT`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step is the failure

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use pms_local::{aws_env, provision, sdk_config, StackOutputs, Template};

struct Stack {
    outputs: StackOutputs,
    endpoint: String,
    config: aws_config::SdkConfig,
}

async fn stack() -> Stack {
    let endpoint = std::env::var("PMS_TEST_AWS_ENDPOINT")
        .expect("run with `make test` (it starts moto and sets PMS_TEST_AWS_ENDPOINT)");
    let template =
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap();
    let name = format!("t-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let config = sdk_config(&endpoint).await;
    let outputs = provision(&config, &template, &name).await.unwrap();
    Stack {
        outputs,
        endpoint,
        config,
    }
}

impl Stack {
    fn pmsctl(&self, args: &[&str]) -> Output {
        let mut env: BTreeMap<String, String> = self.outputs.env.clone();
        env.extend(aws_env(&self.endpoint));
        Command::new(env!("CARGO_BIN_EXE_pmsctl"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            // No stack file: everything comes from the environment contract.
            .env("PMS_STACK_FILE", "/nonexistent/stack.json")
            // Who acts, for the audit log.
            .env("PMSCTL_STAFF", "ops-tester")
            .output()
            .unwrap()
    }

    /// The services as a function wires them, over this stack.
    fn services(&self) -> pms_app::runtime::Services {
        use pms_runtime::AwsServices as _;
        let names =
            pms_app::names::ResourceNames::from_lookup(|k| self.outputs.env.get(k).cloned())
                .unwrap();
        pms_app::runtime::Services::from_aws(
            names,
            &self.config,
            std::sync::Arc::new(pms_domain::ports::SystemClock),
        )
        .with_vendors(pms_vendors::all())
    }

    async fn secret_value(&self, name: &str) -> Option<String> {
        aws_sdk_secretsmanager::Client::new(&self.config)
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .ok()
            .and_then(|o| o.secret_string().map(str::to_owned))
    }

    /// Every item of a hotel's partition, by sort key.
    async fn hotel_items(&self, hotel: &str) -> Vec<String> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let out = aws_sdk_dynamodb::Client::new(&self.config)
            .query()
            .table_name(&self.outputs.table_name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("H#{hotel}")))
            .send()
            .await
            .unwrap();
        out.items()
            .iter()
            .filter_map(|i| i.get("sk").and_then(|v| v.as_s().ok()).cloned())
            .collect()
    }

    /// The JSON of `pmsctl audit list --json` with these extra arguments.
    fn audit(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["audit", "list", "--json"];
        all.extend_from_slice(args);
        let out = self.pmsctl(&all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    async fn table_items(&self) -> usize {
        let out = aws_sdk_dynamodb::Client::new(&self.config)
            .scan()
            .table_name(&self.outputs.table_name)
            .send()
            .await
            .unwrap();
        out.items().len()
    }

    async fn secret_names(&self) -> Vec<String> {
        // Every page: the emulator holds the secrets of every test that ran before this one.
        let pages: Vec<_> = aws_sdk_secretsmanager::Client::new(&self.config)
            .list_secrets()
            .into_paginator()
            .send()
            .collect::<Result<_, _>>()
            .await
            .unwrap();
        let prefix = &self.outputs.secrets_prefix;
        pages
            .iter()
            .flat_map(|page| page.secret_list())
            .filter_map(|s| s.name().map(str::to_owned))
            .filter(|n| n.starts_with(prefix.as_str()))
            .collect()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test]
async fn hotel_add_list_get_and_token_create() {
    let s = stack().await;
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "demo",
        "--name",
        "Demo Hotel",
        "--provider",
        "mock",
        "--time-zone",
        "Europe/Prague",
        "--currency",
        "EUR",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "mews-1",
        "--provider",
        "mews",
        "--property-id",
        "mews-enterprise-1",
        "--time-zone",
        "Pacific/Honolulu",
        "--currency",
        "USD",
        "--base-url",
        "https://api.mews-demo.com",
        "--credential",
        "clientToken=zz-secret-canary-CT",
        "--credential",
        "accessToken=zz-secret-canary-AT",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Credentials went to Secrets Manager, and nowhere in the output.
    assert!(!text(&out.stdout).contains("canary") && !text(&out.stderr).contains("canary"));
    assert!(s
        .secret_names()
        .await
        .iter()
        .any(|n| n.ends_with("/hotels/mews-1/pms")));

    let out = s.pmsctl(&["hotel", "list", "--json"]);
    assert!(out.status.success());
    let hotels: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = hotels
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hotelId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["demo", "mews-1"]);

    let out = s.pmsctl(&["hotel", "get", "--hotel", "mews-1"]);
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(h["timeZone"], "Pacific/Honolulu");
    assert_eq!(h["cache"]["reservationTTL"], 300);
    assert_eq!(
        s.pmsctl(&["hotel", "get", "--hotel", "nope"]).status.code(),
        Some(3)
    );

    let out = s.pmsctl(&[
        "token", "create", "--hotel", "demo", "--scope", "read", "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = t["token"].as_str().unwrap();
    assert!(token.starts_with("pms_"));
    // Only a hash is stored: the token itself is nowhere in the table.
    let scan = aws_sdk_dynamodb::Client::new(&s.config)
        .scan()
        .table_name(&s.outputs.table_name)
        .send()
        .await
        .unwrap();
    assert!(!format!("{:?}", scan.items()).contains(token));
}

#[tokio::test]
async fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let s = stack().await;
    let cases: &[&[&str]] = &[
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "protel",
            "--time-zone",
            "Europe/Prague",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "mock",
            "--time-zone",
            "Mars/Olympus",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "mock",
            "--time-zone",
            "EST",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "mews",
            "--time-zone",
            "Europe/Prague",
            "--base-url",
            "https://api.mews.com",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "mews",
            "--time-zone",
            "Europe/Prague",
            "--base-url",
            "https://api.mews.com",
            "--credential",
            "clientToken=x",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h#1",
            "--provider",
            "mock",
            "--time-zone",
            "Europe/Prague",
        ],
        &[
            "hotel",
            "add",
            "--hotel",
            "h1",
            "--provider",
            "mock",
            "--time-zone",
            "Europe/Prague",
            "--currency",
            "XYZ",
        ],
        &["token", "create", "--hotel", "not-configured"],
        &["token", "create", "--hotel", "h1", "--scope", "admin"],
    ];
    for args in cases {
        let out = s.pmsctl(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "{args:?}: one line, got {err:?}"
        );
        assert!(err.starts_with("error: "), "{err}");
    }
    assert_eq!(s.table_items().await, 0, "nothing written to the table");
    assert!(
        s.secret_names()
            .await
            .iter()
            .all(|n| n.ends_with("partner-token-key")),
        "no credentials written"
    );
}

#[tokio::test]
async fn hotel_add_refuses_a_pms_base_url_that_is_not_https_except_loopback() {
    let s = stack().await;
    let add = |hotel: &str, url: &str| {
        s.pmsctl(&[
            "hotel",
            "add",
            "--hotel",
            hotel,
            "--provider",
            "cloudbeds",
            "--time-zone",
            "Europe/Prague",
            "--property-id",
            "318267",
            "--base-url",
            url,
            "--credential",
            "apiKey=cbat_zz-canary",
        ])
    };
    for url in [
        "http://api.cloudbeds.com/api/v1.3",
        "http://10.1.2.3:8080",
        "ftp://x.example",
    ] {
        let out = add("h1", url);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains("baseUrl") && err.contains("https"), "{err}");
    }
    assert_eq!(s.table_items().await, 0, "nothing written to the table");
    assert!(
        s.secret_names()
            .await
            .iter()
            .all(|n| n.ends_with("partner-token-key")),
        "no credentials written"
    );
    // https anywhere, plain http to a loopback simulator.
    for (hotel, url) in [
        ("h-https", "https://api.cloudbeds.com/api/v1.3"),
        ("h-loopback", "http://127.0.0.1:7070/cloudbeds/api/v1.3"),
    ] {
        let out = add(hotel, url);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
    }
}

#[tokio::test]
async fn token_create_expires_in_gives_the_token_an_expiry() {
    let s = stack().await;
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "demo",
        "--provider",
        "mock",
        "--time-zone",
        "Europe/Prague",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for bad in ["0d", "90", "90w", "-1d", "99999d"] {
        let arg = format!("--expires-in={bad}");
        let out = s.pmsctl(&["token", "create", "--hotel", "demo", &arg]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--expires-in"), "{err}");
    }
    assert_eq!(
        s.table_items().await,
        2,
        "only the hotel and its audit entry: no token written"
    );
    let before = chrono::Utc::now();
    let out = s.pmsctl(&[
        "token",
        "create",
        "--hotel",
        "demo",
        "--expires-in",
        "90d",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expires: chrono::DateTime<chrono::Utc> = t["expiresAt"].as_str().unwrap().parse().unwrap();
    let after = chrono::Utc::now();
    assert!(
        expires >= before + chrono::Duration::days(90)
            && expires <= after + chrono::Duration::days(90),
        "{expires}"
    );
    // Stored with the token, where every verification reads it.
    let item = aws_sdk_dynamodb::Client::new(&s.config)
        .get_item()
        .table_name(&s.outputs.table_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "T#{}",
                t["tokenId"].as_str().unwrap()
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("TOKEN".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        format!("{:?}", item.item()).contains("expiresAt"),
        "{:?}",
        item.item()
    );
    // Without it the token lasts until revoked, and says so.
    let out = s.pmsctl(&["token", "create", "--hotel", "demo"]);
    assert!(
        text(&out.stdout).contains("expires:  never"),
        "{}",
        text(&out.stdout)
    );
}

/// `pmsctl sync run|backfill|status` against a Mews hotel on the simulator (in this process;
/// `pmsctl` reaches it over HTTP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_run_backfill_and_status() {
    use pms_domain::ports::SecretStore;
    use pms_sim::setup::hotel_for;
    use pms_sim::{FaultConfig, Provider, Simulator};

    let s = stack().await;
    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let property = sim.context.config.properties[&Provider::named("mews")][0].clone();
    let hotel = pms_domain::domain::HotelId::parse("mews-sync").unwrap();
    let (config, credentials) = hotel_for(
        Provider::named("mews"),
        &property,
        &sim.vendor_url(Provider::named("mews")),
        hotel.clone(),
    )
    .unwrap();
    let names =
        pms_app::names::ResourceNames::from_lookup(|k| s.outputs.env.get(k).cloned()).unwrap();
    use pms_runtime::AwsServices as _;
    let services = pms_app::runtime::Services::from_aws(
        names,
        &s.config,
        std::sync::Arc::new(pms_domain::ports::SystemClock),
    );
    services
        .secrets
        .put(&services.adapters.credentials_secret(&hotel), &credentials)
        .await
        .unwrap();
    services.hotels.create(&config).await.unwrap();
    // pmsctl blocks; the simulator keeps serving on the other worker thread.
    let run = |args: &[&str]| tokio::task::block_in_place(|| s.pmsctl(args));

    let out = run(&[
        "sync",
        "run",
        "--hotel",
        "mews-sync",
        "--feed",
        "reservations",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("reservations") && stdout.contains("succeeded"),
        "{stdout}"
    );
    let out = run(&["sync", "run", "--hotel", "mews-sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for feed in [
        "arrivals",
        "departures",
        "in_house",
        "room_status",
        "reservations",
    ] {
        assert!(
            text(&out.stdout).contains(feed),
            "{feed}: {}",
            text(&out.stdout)
        );
    }
    let out = run(&["sync", "run", "--hotel", "mews-sync", "--feed", "spa"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = run(&["sync", "run", "--hotel", "nope"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    let today = chrono::Utc::now()
        .with_timezone(&property.time_zone)
        .date_naive();
    let from = (today - chrono::Duration::days(3)).to_string();
    let to = (today + chrono::Duration::days(10)).to_string();
    let backfill = |from: &str, to: &str| {
        run(&[
            "sync",
            "backfill",
            "--hotel",
            "mews-sync",
            "--from",
            from,
            "--to",
            to,
        ])
    };
    assert_eq!(backfill(&to, &from).status.code(), Some(2));
    // The vendor fails: the backfill stops, says how to resume, and keeps its checkpoint.
    sim.admin()
        .set_faults(
            Provider::named("mews"),
            &FaultConfig {
                error_rate: 1.0,
                error_status: Some(500),
                ..FaultConfig::default()
            },
        )
        .await
        .unwrap();
    let out = backfill(&from, &to);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("resume"),
        "{}",
        text(&out.stderr)
    );
    sim.admin().clear_faults().await.unwrap();
    let out = backfill(&from, &to);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    // 14 days: two 7-day windows of arrivals and two of changes.
    assert!(
        summary.contains("completed") && summary.contains("4/4"),
        "{summary}"
    );

    let out = run(&["sync", "status", "--hotel", "mews-sync"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = text(&out.stdout);
    assert!(
        status.contains("backfill") && status.contains("reservations"),
        "{status}"
    );
    sim.stop().await;
}

/// `pmsctl pms <op>` against each vendor's simulator, through the hotel's real adapter built
/// from the registry and Secrets Manager (the local stack's vendor demo hotels): the record
/// (exit 0), `null` for not found (exit 0), the typed error (exit 1). Multi-threaded: the
/// simulator must keep serving while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pms_reads_go_through_each_vendors_adapter() {
    use pms_local::demo;
    use pms_sim::{FaultConfig, Simulator};

    let s = stack().await;
    let config = pms_sim::default_config();
    let sim = Simulator::start(config.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut env = s.outputs.env.clone();
    env.extend(aws_env(&s.endpoint));
    let seeded = demo::seed_vendor_hotels(&s.endpoint, &env, &sim, &config).await;
    assert_eq!(seeded.len(), 3, "{seeded:?}");
    // Seeding again keeps what exists.
    assert_eq!(
        demo::seed_vendor_hotels(&s.endpoint, &env, &sim, &config).await,
        seeded
    );
    let admin = sim.admin();
    for vendor in pms_sim::providers() {
        let hotel = demo::hotel_id(vendor);
        let property = &config.properties[&vendor][0].property_id;
        let data = admin.hotel(vendor, property).await.unwrap();
        let wanted = &data.reservations[0];
        // A Cloudbeds booking's confirmation number is its reservationID.
        let confirmation = if vendor.as_str() == "cloudbeds" {
            &wanted.id
        } else {
            &wanted.confirmation
        };

        let out = s.pmsctl(&[
            "pms",
            "get-reservation",
            "--hotel",
            &hotel,
            "--confirmation",
            confirmation,
        ]);
        assert!(out.status.success(), "{vendor:?}: {}", text(&out.stderr));
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            got["confirmationNumber"],
            confirmation.as_str(),
            "{vendor:?}"
        );

        // By the vendor's id in the forms the API shows it: `Booking.id` and `recordId`.
        let provider = vendor.as_str();
        for id in [
            format!("{hotel}/{provider}:{}", wanted.id),
            format!("{provider}:{}", wanted.id),
            wanted.id.to_string(),
        ] {
            let out = s.pmsctl(&[
                "pms",
                "get-reservation-by-id",
                "--hotel",
                &hotel,
                "--id",
                &id,
            ]);
            assert!(out.status.success(), "{id}: {}", text(&out.stderr));
            let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(got["confirmationNumber"], confirmation.as_str(), "{id}");
        }
        // Another hotel's or vendor's id is refused, not read as part of the vendor's id.
        let other = if provider == "mews" {
            "cloudbeds"
        } else {
            "mews"
        };
        for id in [
            format!("elsewhere/{provider}:{}", wanted.id),
            format!("{other}:{}", wanted.id),
        ] {
            let out = s.pmsctl(&[
                "pms",
                "get-reservation-by-id",
                "--hotel",
                &hotel,
                "--id",
                &id,
            ]);
            assert_eq!(out.status.code(), Some(2), "{id}: {}", text(&out.stderr));
        }

        let out = s.pmsctl(&[
            "pms",
            "get-reservation",
            "--hotel",
            &hotel,
            "--confirmation",
            "999999999",
        ]);
        assert!(out.status.success(), "{vendor:?}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), "null", "{vendor:?}");

        let out = s.pmsctl(&["pms", "room-statuses", "--hotel", &hotel]);
        assert!(out.status.success(), "{vendor:?}: {}", text(&out.stderr));
        let rooms: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let rooms = rooms
            .as_array()
            .or_else(|| rooms["items"].as_array())
            .unwrap_or_else(|| panic!("{vendor:?}: {rooms}"));
        assert_eq!(rooms.len(), data.rooms.len(), "{vendor:?}");

        // A vendor that refuses every call: the typed error as JSON, with the vendor's request
        // id, exit 1.
        admin
            .set_faults(
                vendor,
                &FaultConfig {
                    error_rate: 1.0,
                    error_status: Some(400),
                    ..FaultConfig::default()
                },
            )
            .await
            .unwrap();
        let out = s.pmsctl(&["pms", "room-statuses", "--hotel", &hotel]);
        admin.clear_faults().await.unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{vendor:?}: {}",
            text(&out.stderr)
        );
        let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            err["error"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("PMS_")),
            "{err}"
        );
        assert!(
            err["error"]["requestId"]
                .as_str()
                .is_some_and(|r| !r.is_empty()),
            "{vendor:?}: {err}"
        );
    }
    sim.stop().await;
}

/// A disabled hotel's sync is refused, saying why (exit 2, nothing recorded), unless forced.
#[tokio::test]
async fn sync_run_on_a_disabled_hotel_is_refused_unless_forced() {
    let s = stack().await;
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "off",
        "--provider",
        "mock",
        "--time-zone",
        "Europe/Prague",
        "--disabled",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let items = s.table_items().await;
    for args in [
        &["sync", "run", "--hotel", "off"][..],
        &["sync", "run", "--hotel", "off", "--feed", "arrivals"][..],
    ] {
        let out = s.pmsctl(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("disabled") && err.contains("--force"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        s.table_items().await,
        items,
        "nothing ran, nothing recorded"
    );

    let out = s.pmsctl(&[
        "sync", "run", "--hotel", "off", "--feed", "arrivals", "--force",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("arrivals") && stdout.contains("succeeded"),
        "{stdout}"
    );
}

fn actions(audit: &serde_json::Value) -> Vec<String> {
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["action"]
                .as_str()
                .or_else(|| e["result"].as_str())
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A hotel's life: update (flags and any field), disable/enable, credential rotation from a
/// file, remove and purge with a confirmation; every change audited, no secret value printed
/// or audited.
#[tokio::test]
async fn hotel_lifecycle_is_validated_audited_and_never_shows_secrets() {
    let s = stack().await;
    let dir = tempfile::tempdir().unwrap();
    let creds = |name: &str, ct: &str, at: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            serde_json::json!({"clientToken": ct, "accessToken": at}).to_string(),
        )
        .unwrap();
        p.to_string_lossy().into_owned()
    };
    let first = creds("first.json", "zz-canary-CT1", "zz-canary-AT1");
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "m1",
        "--provider",
        "mews",
        "--time-zone",
        "Europe/Prague",
        "--base-url",
        "https://api.mews-demo.com",
        "--property-id",
        "ent-1",
        "--credentials-file",
        &first,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let get = || -> serde_json::Value {
        serde_json::from_slice(&s.pmsctl(&["hotel", "get", "--hotel", "m1"]).stdout).unwrap()
    };
    let before = get();

    // Any field, validated as `add` validates.
    let out = s.pmsctl(&[
        "hotel",
        "update",
        "--hotel",
        "m1",
        "--name",
        "Grand M1",
        "--base-url",
        "https://api.mews.com",
        "--set",
        "cache.reservationTTL=600",
        "--set",
        "sync.arrivals.enabled=false",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("cache.reservationTTL: 300 -> 600"),
        "{}",
        text(&out.stdout)
    );
    let after = get();
    assert_eq!(after["name"], "Grand M1");
    assert_eq!(after["cache"]["reservationTTL"], 600);
    assert_eq!(after["vendor"]["baseUrl"], "https://api.mews.com/");
    assert_eq!(after["sync"]["arrivals"]["enabled"], false);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_ne!(
        after["updatedAt"], before["updatedAt"],
        "functions see it changed"
    );
    for bad in [
        &["--time-zone", "EST"][..],
        &["--base-url", "http://10.0.0.1"][..],
        &["--set", "nonsense=1"][..],
        &["--set", "hotelId=m2"][..],
        &["--set", "cache.reservationTTL=\"soon\""][..],
        &["--currency", "XYZ"][..],
    ] {
        let mut args = vec!["hotel", "update", "--hotel", "m1"];
        args.extend_from_slice(bad);
        let out = s.pmsctl(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
    assert_eq!(get(), after, "refused updates write nothing");
    let out = s.pmsctl(&["hotel", "update", "--hotel", "nope", "--name", "x"]);
    assert_eq!(out.status.code(), Some(3));

    // Disable / enable.
    let out = s.pmsctl(&[
        "hotel",
        "disable",
        "--hotel",
        "m1",
        "--reason",
        "PMS migration",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get()["enabled"], false);
    let out = s.pmsctl(&["hotel", "enable", "--hotel", "m1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(get()["enabled"], true);

    // Credentials from a file: stored, never printed; a file that is not this vendor's
    // credentials is refused.
    let updated_before = get()["updatedAt"].clone();
    let second = creds("second.json", "zz-canary-CT2", "zz-canary-AT2");
    let out = s.pmsctl(&[
        "hotel",
        "credentials",
        "set",
        "--hotel",
        "m1",
        "--credentials-file",
        &second,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("canary") && !text(&out.stderr).contains("canary"));
    let secret = s
        .secret_value(&format!("{}/hotels/m1/pms", s.outputs.secrets_prefix))
        .await
        .unwrap();
    assert!(secret.contains("zz-canary-AT2") && !secret.contains("zz-canary-AT1"));
    assert_ne!(get()["updatedAt"], updated_before, "adapters are rebuilt");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"apiKey": "zz-canary-x"}"#).unwrap();
    let out = s.pmsctl(&[
        "hotel",
        "credentials",
        "set",
        "--hotel",
        "m1",
        "--credentials-file",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("canary"));

    // Audited: who, what, newest first; no secret value anywhere.
    let audit = s.audit(&["--hotel", "m1", "--kind", "ops"]);
    assert_eq!(
        actions(&audit),
        [
            "credentials_set",
            "hotel_enabled",
            "hotel_disabled",
            "hotel_updated",
            "hotel_added"
        ]
    );
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["actor"] == "ops-tester"));
    let fields: Vec<&str> = entries[3]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "cache.reservationTTL",
            "name",
            "sync.arrivals.enabled",
            "vendor.baseUrl"
        ]
    );
    assert_eq!(entries[2]["note"], "PMS migration");
    assert!(entries[0]["note"].as_str().unwrap().contains("accessToken"));
    assert!(!audit.to_string().contains("canary"));

    // Remove: asks for the hotel id (no terminal here: --confirm), keeps data and secrets.
    let out = s.pmsctl(&["hotel", "remove", "--hotel", "m1"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = s.pmsctl(&["hotel", "remove", "--hotel", "m1", "--confirm", "m2"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(get()["hotelId"], "m1", "not removed without a confirmation");
    let out = s.pmsctl(&["hotel", "remove", "--hotel", "m1", "--confirm", "m1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        s.pmsctl(&["hotel", "get", "--hotel", "m1"]).status.code(),
        Some(3)
    );
    assert!(s
        .secret_value(&format!("{}/hotels/m1/pms", s.outputs.secrets_prefix))
        .await
        .is_some());

    // Purge: every item and secret of the hotel goes, its audit stays.
    let out = s.pmsctl(&[
        "webhook",
        "partner-key",
        "--hotel",
        "m1",
        "--partner",
        "acme",
    ]);
    assert_eq!(out.status.code(), Some(2), "a removed hotel gets no keys");
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "p1",
        "--provider",
        "mock",
        "--time-zone",
        "Europe/Prague",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.pmsctl(&[
        "webhook",
        "partner-key",
        "--hotel",
        "p1",
        "--partner",
        "acme",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.pmsctl(&["sync", "run", "--hotel", "p1", "--feed", "arrivals"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(s
        .hotel_items("p1")
        .await
        .iter()
        .any(|k| !k.contains("AUDIT#")));
    let out = s.pmsctl(&[
        "hotel",
        "remove",
        "--hotel",
        "p1",
        "--purge",
        "--confirm",
        "p1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let left = s.hotel_items("p1").await;
    assert!(
        left.iter()
            .all(|k| k.starts_with("OPSAUDIT#") || k.starts_with("AUDIT#")),
        "{left:?}"
    );
    assert!(s
        .secret_value(&format!("{}/hotels/p1/webhook", s.outputs.secrets_prefix))
        .await
        .is_none());
    let audit = s.audit(&["--hotel", "p1"]);
    assert_eq!(actions(&audit)[0], "hotel_purged");
}

/// New credentials reach a process that already built the hotel's adapter (a warm function)
/// on its next call, not after the secret cache's 5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_set_takes_effect_in_a_warm_process_on_its_next_call() {
    use pms_domain::ports::SecretStore;
    use pms_sim::setup::hotel_for;
    use pms_sim::{Provider, Simulator};

    let s = stack().await;
    let sim = Simulator::start(pms_sim::default_config(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let property = sim.context.config.properties[&Provider::named("cloudbeds")][0].clone();
    let hotel = pms_domain::domain::HotelId::parse("cb-rot").unwrap();
    let (config, credentials) = hotel_for(
        Provider::named("cloudbeds"),
        &property,
        &sim.vendor_url(Provider::named("cloudbeds")),
        hotel.clone(),
    )
    .unwrap();
    let warm = s.services();
    warm.secrets
        .put(&warm.adapters.credentials_secret(&hotel), &credentials)
        .await
        .unwrap();
    warm.hotels.create(&config).await.unwrap();
    let call = || async {
        let config = warm.hotels.require(&hotel).await.unwrap();
        let adapter = warm.adapters.adapter_for(&config).await.unwrap();
        adapter.room_statuses().await
    };
    assert!(call().await.is_ok(), "warm: adapter and credentials cached");

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, r#"{"apiKey": "cbat_zz-not-the-key"}"#).unwrap();
    let run = |args: &[&str]| tokio::task::block_in_place(|| s.pmsctl(args));
    let out = run(&[
        "hotel",
        "credentials",
        "set",
        "--hotel",
        "cb-rot",
        "--credentials-file",
        wrong.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        call().await.is_err(),
        "the next call already uses the new (wrong) key"
    );

    let right = dir.path().join("right.json");
    let secret = credentials.clone();
    std::fs::write(&right, secrecy::ExposeSecret::expose_secret(&secret)).unwrap();
    let out = run(&[
        "hotel",
        "credentials",
        "set",
        "--hotel",
        "cb-rot",
        "--credentials-file",
        right.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(call().await.is_ok(), "and the next one the right key again");
    sim.stop().await;
}

/// `pmsctl sync dlq list|show|redrive|purge` on the sync queue's DLQ (moto: received and
/// sent; the whole-DLQ move uses StartMessageMoveTask where the endpoint has it).
#[tokio::test]
async fn sync_dlq_list_show_redrive_and_purge() {
    use pms_app::jobs::{Feed, FeedJob, JobSource, RefreshJob, SyncJob};
    use pms_domain::pms::{EntityKind, EntityRef};
    use pms_domain::ports::OutgoingMessage;

    let s = stack().await;
    let svc = s.services();
    let dlq_url = svc.names.sync_dlq_url.clone();
    let queue_url = svc.names.sync_queue_url.clone();
    let a = pms_domain::domain::HotelId::parse("a1").unwrap();
    let b = pms_domain::domain::HotelId::parse("b1").unwrap();
    for hotel in [&a, &b, &b] {
        let job = SyncJob::Feed(FeedJob {
            hotel: hotel.clone(),
            feed: Feed::Arrivals,
            scheduled_at: chrono::Utc::now(),
            correlation_id: format!("corr-{hotel}"),
            continuation: None,
        });
        svc.queue
            .send(&dlq_url, job.to_message().unwrap())
            .await
            .unwrap();
    }
    let refresh = SyncJob::Refresh(RefreshJob {
        hotel: a.clone(),
        entities: vec![EntityRef {
            kind: EntityKind::Reservation,
            id: pms_domain::domain::ExternalId::parse("r-9").unwrap(),
        }],
        source: JobSource::Manual,
        received_at: chrono::Utc::now(),
        correlation_id: "corr-refresh".into(),
        attempt: 1,
    });
    svc.queue
        .send(&dlq_url, refresh.to_message().unwrap())
        .await
        .unwrap();
    svc.queue
        .send(&dlq_url, OutgoingMessage::new("not a job"))
        .await
        .unwrap();

    let list = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["sync", "dlq", "list", "--json"];
        all.extend_from_slice(args);
        let out = s.pmsctl(&all);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let all = list(&[]);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(list(&["--hotel", "a1"]).len(), 2);
    assert_eq!(all.iter().filter(|m| m["kind"] == "unreadable").count(), 1);
    let out = s.pmsctl(&["sync", "dlq", "list"]);
    assert!(
        text(&out.stdout).contains("5 message(s)"),
        "{}",
        text(&out.stdout)
    );
    // Listing changes nothing: all still there.
    assert_eq!(list(&[]).len(), 5);

    let refresh_id = all.iter().find(|m| m["kind"] == "refresh").unwrap()["messageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s.pmsctl(&["sync", "dlq", "show", &refresh_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["job"]["entities"][0]["id"], "r-9", "{shown}");
    assert_eq!(shown["correlationId"], "corr-refresh");
    assert_eq!(
        s.pmsctl(&["sync", "dlq", "show", "nope"]).status.code(),
        Some(3)
    );

    // One by id, then one hotel's: back on the sync queue, with their attributes.
    let out = s.pmsctl(&["sync", "dlq", "redrive", &refresh_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.pmsctl(&["sync", "dlq", "redrive", "--all", "--hotel", "b1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("redriven 2"),
        "{}",
        text(&out.stdout)
    );
    let back = svc
        .queue
        .receive(&queue_url, 10, std::time::Duration::from_secs(1), None)
        .await
        .unwrap();
    assert_eq!(back.len(), 3);
    assert!(back.iter().all(|m| SyncJob::parse(&m.body).is_ok()));
    assert_eq!(
        back.iter()
            .filter(|m| m.attributes.get("hotel").map(String::as_str) == Some("b1"))
            .count(),
        2
    );
    assert_eq!(list(&[]).len(), 2);

    // Purge asks first.
    let out = s.pmsctl(&["sync", "dlq", "purge", "--all"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(list(&[]).len(), 2);
    let out = s.pmsctl(&["sync", "dlq", "purge", "--all", "--hotel", "a1", "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The rest (the unreadable one) by the whole-DLQ redrive.
    let out = s.pmsctl(&["sync", "dlq", "redrive", "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(list(&[]).is_empty());
    let out = s.pmsctl(&["sync", "dlq", "redrive", "missing-id"]);
    assert_eq!(out.status.code(), Some(3));

    let audit = s.audit(&["--hotel", "b1"]);
    assert_eq!(actions(&audit), ["sync_dead_letters_redriven"]);
    let audit = s.audit(&["--hotel", "a1"]);
    assert_eq!(
        actions(&audit),
        ["sync_dead_letters_purged", "sync_dead_letters_redriven"]
    );
}

/// `pmsctl audit list`: PMS writes and ops actions, newest first, by kind and age, a page at
/// a time.
#[tokio::test]
async fn audit_list_merges_writes_and_ops_newest_first_and_pages() {
    use pms_app::writes::{AuditEntry, AuditResult, IdempotencyKey, OperationId, WriteRecords};

    let s = stack().await;
    let out = s.pmsctl(&[
        "hotel",
        "add",
        "--hotel",
        "h1",
        "--provider",
        "mock",
        "--time-zone",
        "Europe/Prague",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = s.pmsctl(&["token", "create", "--hotel", "h1", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let t: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token_id = t["tokenId"].as_str().unwrap().to_owned();
    let out = s.pmsctl(&[
        "webhook",
        "partner-key",
        "--hotel",
        "h1",
        "--partner",
        "acme",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Two PMS writes as the writer records them: one just now, one two days ago.
    let svc = s.services();
    let records = WriteRecords::new(svc.store.clone(), svc.clock.clone());
    let h1 = pms_domain::domain::HotelId::parse("h1").unwrap();
    for (age, request) in [
        (chrono::Duration::days(2), "vreq-old"),
        (chrono::Duration::zero(), "vreq-new"),
    ] {
        records
            .audit(&AuditEntry {
                hotel_id: h1.clone(),
                operation_id: OperationId::new(),
                operation: "postCharge".into(),
                idempotency_key: IdempotencyKey::partner(&token_id, request).unwrap(),
                actor: token_id.clone(),
                attempt: 1,
                at: chrono::Utc::now() - age,
                result: AuditResult::Succeeded,
                vendor_request_id: Some(request.into()),
                error: None,
                note: None,
                correlation_id: Some(format!("corr-{request}")),
            })
            .await
            .unwrap();
    }
    let out = s.pmsctl(&["token", "revoke", "--token-id", &token_id]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let all = s.audit(&[]);
    assert_eq!(
        actions(&all),
        [
            "token_revoked",
            "succeeded",
            "partner_key_rotated",
            "token_created",
            "hotel_added",
            "succeeded"
        ]
    );
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries[1]["kind"], "write");
    assert_eq!(entries[1]["correlationId"], "corr-vreq-new");
    assert_eq!(entries[1]["vendorRequestId"], "vreq-new");
    assert_eq!(entries[0]["kind"], "ops");
    assert_eq!(entries[0]["target"], token_id.as_str());
    assert_eq!(entries[2]["target"], "acme");
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    assert_eq!(
        actions(&s.audit(&["--kind", "write"])),
        ["succeeded", "succeeded"]
    );
    assert_eq!(
        actions(&s.audit(&["--kind", "ops", "--hotel", "h1"])).len(),
        4
    );
    assert_eq!(actions(&s.audit(&["--since", "24h"])).len(), 5);

    // Pages of two, continued with --before, cover everything once.
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..10 {
        let mut args = vec!["--limit", "2"];
        if let Some(b) = &before {
            args.extend(["--before", b.as_str()]);
        }
        let page = s.audit(&args);
        seen.extend(actions(&page));
        match page["nextBefore"].as_str() {
            Some(b) => before = Some(b.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, actions(&all));
    let out = s.pmsctl(&["audit", "list", "--kind", "reads"]);
    assert_eq!(out.status.code(), Some(2));
    let out = s.pmsctl(&["audit", "list", "--hotel", "h1"]);
    assert!(
        text(&out.stdout).contains("corr-vreq-new"),
        "{}",
        text(&out.stdout)
    );
}
