//! `hoop demo`: the whole idea in one command. A throwaway PostgreSQL (the machine's own
//! binaries, as an unprivileged user when run as root) with fake PII, hoop in front of it with
//! the default rules, masking and recording, an agent token, and what to try. Ctrl-C removes it all.

use hoop_core::config::{Config, Secret, TargetConfig};
use hoop_core::identity::IdentityKind;
use hoop_core::session::Protocol;
use std::time::Duration;

/// Flags of `hoop demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Where the demo's Postgres gateway listens.
    #[arg(long, default_value = "127.0.0.1:15432")]
    pg_listen: String,
    /// Where the demo's admin API listens.
    #[arg(long, default_value = "127.0.0.1:8099")]
    admin_listen: String,
}

const SCHEMA: &str = r#"
create table customers (id serial primary key, name text not null, email text not null, card_number text, ssn text, city text);
insert into customers (name, email, card_number, ssn, city) values
  ('Ada Lovelace', 'ada@example.com', '4111 1111 1111 1111', '123-45-6789', 'London'),
  ('Alan Turing', 'alan.turing@example.org', '5500 0000 0000 0004', '234-56-7890', 'Manchester'),
  ('Grace Hopper', 'grace@navy.example', '3400 0000 0000 009', '345-67-8901', 'Arlington'),
  ('Edsger Dijkstra', 'ewd@example.nl', '6011 0000 0000 0004', '456-78-9012', 'Austin');
create table payments (id serial primary key, customer_id int references customers(id), amount_cents int, iban text);
insert into payments (customer_id, amount_cents, iban) values
  (1, 12500, 'GB82 WEST 1234 5698 7654 32'), (2, 9900, 'DE89 3704 0044 0532 0130 00'), (3, 4200, 'FR14 2004 1010 0505 0001 3M02 606');
create table events as select g as id, 'event ' || g as what, timestamp '2026-01-01' + g * interval '1 minute' as at from generate_series(1, 60000) g;
"#;

/// The demo gateway's upstream role (see `Postgres::least_privileged_role`).
const DEMO_ROLE: &str = "hoop_gateway";

pub async fn run(mut cfg: Config, data_dir_given: bool, args: DemoArgs) -> Result<(), String> {
    // A data dir of its own unless one was given, removed on exit.
    let scratch = if data_dir_given { None } else { Some(tempfile::Builder::new().prefix("hoop-demo-").tempdir().map_err(|e| e.to_string())?) };
    if let Some(d) = &scratch {
        cfg.data_dir = d.path().to_path_buf();
    }
    println!("starting a throwaway PostgreSQL ...");
    let pg = tokio::task::spawn_blocking(|| hoop_harness::Postgres::start(hoop_harness::PgOptions::default()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("starting PostgreSQL: {e}"))?;
    pg.psql(SCHEMA).map_err(|e| format!("loading the sample schema: {e}"))?;
    // The gateway's own role is least-privileged: agents are refused on a superuser role.
    pg.least_privileged_role(DEMO_ROLE).map_err(|e| format!("creating the gateway's role: {e}"))?;
    cfg.targets.insert(
        "demo".into(),
        TargetConfig {
            user: Some(DEMO_ROLE.to_string()),
            password: Some(Secret::literal(pg.password())),
            database: Some("postgres".into()),
            sensitive_tables: vec!["payments".into()],
            ..TargetConfig::new(Protocol::Postgres, format!("127.0.0.1:{}", pg.port()))
        },
    );
    cfg.masking.columns.push("ssn".into());
    cfg.listeners.postgres = Some(args.pg_listen.clone());
    cfg.listeners.admin = Some(args.admin_listen.clone());
    let running = super::serve::start(&cfg).await?;
    let token = examples::issue_token(
        &cfg.data_dir,
        &hoop_core::auth::TokenSpec { subject: "agent-1".into(), kind: IdentityKind::Agent, groups: vec![], targets: vec!["demo".into()], ttl_secs: 3600 },
    )?;
    let pg_addr = running.listeners.iter().find(|(w, _)| *w == "postgres").map(|(_, a)| *a).ok_or("no postgres listener")?;
    let admin_addr = running.listeners.iter().find(|(w, _)| *w == "admin").map(|(_, a)| *a).ok_or("no admin listener")?;
    let hoop = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_else(|_| "hoop".into());
    let dd = cfg.data_dir.display();
    println!(
        "\nhoop demo is running (data dir {dd}{}).\n\n\
         Connect as agent-1 (a short-lived token, valid 1 h):\n\
         \x20 PGPASSWORD='{token}' psql \"host={} port={} dbname=demo user=agent-1\"\n\n\
         Then try:\n\
         \x20 masked:   select name, email, card_number, ssn from customers;\n\
         \x20 blocked:  delete from customers;\n\
         \x20 review:   select * from payments;     (waits for a reviewer)\n\
         \x20 budget:   select * from events;       (60,000 rows: pauses after 10,000 until a reviewer lets it go on,\n\
         \x20           and again at 50,000, the hourly budget of rows read from this target)\n\
         \x20 paging:   for p in $(seq 0 59); do PGPASSWORD='{token}' psql \"host={} port={} dbname=demo user=agent-1\" \\\n\
         \x20             -c \"select * from events order by id limit 1000 offset $((p*1000))\" >/dev/null || break; done\n\
         \x20           (the hourly budget: the page that crosses 50,000 rows read from this target waits for a reviewer)\n\
         \x20 usage:    {hoop} --data-dir {dd} usage --admin-url https://{admin_addr}\n\n\
         Approve from another terminal:\n\
         \x20 {hoop} --data-dir {dd} approvals list --admin-url https://{admin_addr}\n\
         \x20 {hoop} --data-dir {dd} approvals approve <ticket> --admin-url https://{admin_addr}\n\n\
         Afterwards: `{hoop} --data-dir {dd} sessions list --admin-url https://{admin_addr}` and `... replay <id>`.\n\
         Ctrl-C stops the demo and removes everything.",
        if scratch.is_some() { ", removed on exit" } else { "" },
        pg_addr.ip(),
        pg_addr.port(),
        pg_addr.ip(),
        pg_addr.port(),
    );
    super::serve::wait_for_signals(&running, None, &cfg).await?;
    running.shutdown(Duration::from_secs(2)).await;
    drop(pg);
    drop(scratch);
    println!("hoop demo stopped; PostgreSQL and the demo's data removed");
    Ok(())
}
