//! Test support: throwaway databases on the local servers and an engine wired to them.

use dbabot::config::{Config, Engine as DbEngine, Secret, Target};
use dbabot::intents::Catalog;
use dbabot::memory::Memory;
use dbabot::recommend::RulesRecommender;
use dbabot::Engine;
use dbabot_chat::{InboundMessage, MessageHandler, Platform, Reply, User};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Admin URL of the local PostgreSQL (override with DBABOT_TEST_PG_URL).
pub fn pg_admin_url() -> String {
    std::env::var("DBABOT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Admin URL of the local MariaDB/MySQL (override with DBABOT_TEST_MYSQL_URL).
pub fn mysql_admin_url() -> String {
    std::env::var("DBABOT_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/mysql".into())
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

fn replace_db(url: &str, db: &str) -> String {
    match url.rfind('/') {
        Some(i) => format!("{}/{db}", &url[..i]),
        None => url.to_string(),
    }
}

/// A database created for one test and dropped when the value goes out of scope.
///
/// `url` is the administrator's (tests plant faults with it); the bot's [`TestDb::target`]
/// connects as a login of its own holding exactly the grants `deploy/README.md` documents
/// ("Least-privilege database accounts"), so every diagnostic in the suite runs as a real
/// deployment would run it, never as superuser or root.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The bot's least-privilege login.
    pub bot_url: String,
    admin: String,
    engine: DbEngine,
    logins: std::sync::Mutex<Vec<String>>,
}

/// The grants `deploy/README.md` documents for the bot's PostgreSQL login (`{login}`, `{db}`).
pub const PG_BOT_GRANTS: &[&str] = &[
    "CREATE ROLE {login} LOGIN",
    "GRANT pg_monitor TO {login}",
    "GRANT pg_read_all_data TO {login}",
    "ALTER ROLE {login} SET default_transaction_read_only = on",
    "GRANT CONNECT ON DATABASE {db} TO {login}",
];

/// The grants `deploy/README.md` documents for the bot's MySQL/MariaDB login.
pub const MY_BOT_GRANTS: &[&str] = &[
    "CREATE USER '{login}'@'%'",
    "GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{login}'@'%'",
    "GRANT SELECT ON performance_schema.* TO '{login}'@'%'",
    "GRANT SELECT ON sys.* TO '{login}'@'%'",
    "GRANT SELECT ON mysql.user TO '{login}'@'%'",
    "GRANT REPLICA MONITOR ON *.* TO '{login}'@'%'",
    "GRANT SELECT, SHOW VIEW ON `{db}`.* TO '{login}'@'%'",
];

fn with_user(url: &str, user: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username(user);
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

impl TestDb {
    pub async fn postgres() -> TestDb {
        let admin = pg_admin_url();
        let name = unique("dbabot_t");
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to local PostgreSQL (is it running?)");
        sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let url = replace_db(&admin, &name);
        let db = TestDb {
            bot_url: String::new(),
            url,
            name,
            admin,
            engine: DbEngine::Postgres,
            logins: Default::default(),
        };
        let mut db = db;
        db.bot_url = db.login("bot", PG_BOT_GRANTS).await;
        db
    }

    pub async fn mysql() -> TestDb {
        let admin = mysql_admin_url();
        let name = unique("dbabot_t");
        let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to local MariaDB (is it running?)");
        sqlx::Executor::execute(&mut c, format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create database");
        let url = replace_db(&admin, &name);
        let db = TestDb {
            bot_url: String::new(),
            url,
            name,
            admin,
            engine: DbEngine::Mysql,
            logins: Default::default(),
        };
        let mut db = db;
        db.bot_url = db.login("bot", MY_BOT_GRANTS).await;
        db
    }

    /// Creates a login `<db>_<suffix>` with `statements` (`{login}` and `{db}` filled in), to be
    /// dropped with the database, and returns its URL for this database.
    pub async fn login(&self, suffix: &str, statements: &[&str]) -> String {
        let login = format!("{}_{suffix}", self.name);
        for stmt in statements {
            let sql = stmt.replace("{login}", &login).replace("{db}", &self.name);
            match self.engine {
                DbEngine::Postgres => {
                    let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&self.admin)
                        .await
                        .expect("admin connection");
                    sqlx::Executor::execute(&mut c, sql.as_str())
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
                _ => {
                    let mut c = <sqlx::MySqlConnection as sqlx::Connection>::connect(&self.admin)
                        .await
                        .expect("admin connection");
                    sqlx::Executor::execute(&mut c, sql.as_str())
                        .await
                        .unwrap_or_else(|e| panic!("{sql}: {e}"));
                }
            }
        }
        self.logins.lock().expect("logins lock").push(login.clone());
        with_user(&self.url, &login)
    }

    /// The bot's target on this database, connecting as the least-privilege login.
    pub fn target_as(&self, alias: &str, url: &str) -> Target {
        Target {
            dsn: Secret::new(url.to_string()),
            ..self.target(alias, "prod", "aws")
        }
    }

    pub fn target(&self, alias: &str, environment: &str, cloud: &str) -> Target {
        Target {
            alias: alias.into(),
            aliases: vec![],
            engine: self.engine,
            environment: environment.into(),
            cloud: cloud.into(),
            dsn_source: "test".into(),
            dsn: Secret::new(self.bot_url.clone()),
        }
    }

    pub async fn pg(&self) -> sqlx::PgConnection {
        <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
            .await
            .expect("connect test db")
    }

    pub async fn my(&self) -> sqlx::MySqlConnection {
        <sqlx::MySqlConnection as sqlx::Connection>::connect(&self.url)
            .await
            .expect("connect test db")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name, engine) = (self.admin.clone(), self.name.clone(), self.engine);
        let logins = std::mem::take(&mut *self.logins.lock().unwrap_or_else(|p| p.into_inner()));
        // Drop runs outside async context; use a private runtime on a plain thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                match engine {
                    DbEngine::Postgres => {
                        if let Ok(mut c) =
                            <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                        {
                            let _ = sqlx::Executor::execute(
                                &mut c,
                                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                            )
                            .await;
                            // Slots a test created for this database (`<db>_slot`), also when the
                            // test failed before dropping them: a forgotten slot retains WAL.
                            let _ = sqlx::query(
                                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                                 WHERE slot_name LIKE $1 || '%' AND NOT active",
                            )
                            .bind(&name)
                            .execute(&mut c)
                            .await;
                            for l in &logins {
                                let _ = sqlx::Executor::execute(
                                    &mut c,
                                    format!("DROP ROLE IF EXISTS {l}").as_str(),
                                )
                                .await;
                            }
                        }
                    }
                    _ => {
                        if let Ok(mut c) =
                            <sqlx::MySqlConnection as sqlx::Connection>::connect(&admin).await
                        {
                            let _ = sqlx::Executor::execute(
                                &mut c,
                                format!("DROP DATABASE IF EXISTS {name}").as_str(),
                            )
                            .await;
                            for l in &logins {
                                let _ = sqlx::Executor::execute(
                                    &mut c,
                                    format!("DROP USER IF EXISTS '{l}'@'%'").as_str(),
                                )
                                .await;
                            }
                        }
                    }
                }
            });
        })
        .join();
    }
}

/// An engine over `targets` with its own temporary data directory.
pub struct TestBot {
    pub engine: Engine,
    pub dir: tempfile::TempDir,
    /// The target a scenario is about, when the bot also has decoys: the answer a user gives
    /// when the bot asks "which database?".
    pub primary: Option<String>,
}

impl TestBot {
    pub fn new(targets: Vec<Target>) -> TestBot {
        Self::in_dir(tempfile::tempdir().expect("tempdir"), targets)
    }

    /// A bot whose only target is the bundled demo, created in the bot's data directory.
    pub async fn demo() -> TestBot {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dbabot::demo::ensure(dir.path()).await.expect("demo db");
        Self::in_dir(dir, vec![target])
    }

    pub fn in_dir(dir: tempfile::TempDir, targets: Vec<Target>) -> TestBot {
        Self::with_catalog(dir, targets, Catalog::embedded().expect("catalog"))
    }

    /// Like [`TestBot::in_dir`] with a given catalog (an edited copy of `intents/`).
    pub fn with_catalog(dir: tempfile::TempDir, targets: Vec<Target>, catalog: Catalog) -> TestBot {
        let mut cfg = Config::embedded(dir.path().to_path_buf());
        cfg.targets = targets;
        let memory = Memory::open(&dir.path().join("memory")).expect("memory");
        let engine = Engine::new(cfg, catalog, memory, Arc::new(RulesRecommender)).expect("engine");
        TestBot {
            engine,
            dir,
            primary: None,
        }
    }

    /// Sends `text` in `thread` as a test user and returns the reply.
    pub async fn ask(&self, thread: &str, text: &str) -> Reply {
        self.engine
            .handle(msg(thread, text))
            .await
            .expect("turn succeeds")
    }
}

pub fn msg(thread: &str, text: &str) -> InboundMessage {
    InboundMessage::text(
        Platform::Test,
        "T1",
        "C1",
        thread,
        User {
            id: "U1".into(),
            display_name: "Dana Dev".into(),
            groups: vec![],
        },
        text,
    )
}

/// Polls `f` until it returns true or `secs` pass.
pub async fn wait_until<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The bundled demo registered twice: `shop-prod` (prod, aws) and `shop-staging` (staging), for
/// tests of slot questions with more than one database.
pub async fn two_target_bot() -> TestBot {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = dbabot::demo::ensure(dir.path()).await.expect("demo");
    let mut prod = demo.clone();
    prod.alias = "shop-prod".into();
    prod.aliases = vec![];
    prod.environment = "prod".into();
    prod.cloud = "aws".into();
    let mut staging = demo;
    staging.alias = "shop-staging".into();
    staging.aliases = vec![];
    staging.environment = "staging".into();
    TestBot::in_dir(dir, vec![prod, staging])
}

/// Why `sql` would not parse in `engine`'s dialect (`postgres`, `mysql`, `sqlite`, `mssql`), if
/// it would not: every statement shown to a
/// human must be valid SQL for the engine it is shown on. Statements the parser has no grammar
/// for (engine commands such as `DBCC`, `PRAGMA x = y`, `SHOW ENGINE`, `KILL`, `BACKUP`), text
/// that is a finding's own value (the test fills facts with `v<n>`) and explicit templates
/// (`SELECT ...; -- your query`) are left out.
pub fn sql_problem(sql: &str, engine: &str) -> Option<String> {
    use sqlparser::dialect::{
        Dialect, MsSqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect,
    };
    let dialect: Box<dyn Dialect> = match engine {
        "postgres" => Box::new(PostgreSqlDialect {}),
        "mysql" => Box::new(MySqlDialect {}),
        "sqlite" => Box::new(SQLiteDialect {}),
        "mssql" => Box::new(MsSqlDialect {}),
        _ => return None,
    };
    static FACT: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\bv\d+\b").expect("regex"));
    for stmt in sql.split(";\n").flat_map(|s| s.split("; ")) {
        let stmt = stmt.trim().trim_end_matches(';').trim();
        let upper = stmt.to_uppercase();
        let engine_command = [
            "DBCC",
            "PRAGMA",
            "SHOW ",
            "KILL",
            "BACKUP",
            "RESTORE",
            "ALTER INDEX",
            "EXEC",
            "ANALYZE FORMAT",
            "ALTER DATABASE",
            "VACUUM",
            "REINDEX",
            "CLUSTER",
            "CHECKPOINT",
            "SET GLOBAL",
            "SET PERSIST",
            "PURGE",
            "FLUSH",
            "OPTIMIZE",
            "CHECK TABLE",
            "CALL ",
            "CREATE STATISTICS",
            "ALTER SYSTEM",
            "ALTER ROLE",
            "ALTER USER",
            "ALTER EVENT",
            "ALTER SEQUENCE",
            "CREATE EXTENSION",
            "GRANT",
            "REVOKE",
            "EXPLAIN",
            // Two-phase commit: PostgreSQL `COMMIT PREPARED` / `ROLLBACK PREPARED`, MySQL and
            // MariaDB `XA RECOVER` / `XA ROLLBACK` / `XA COMMIT` (no grammar in sqlparser 0.63).
            "ROLLBACK PREPARED",
            "COMMIT PREPARED",
            "XA ",
            // Valid statements sqlparser 0.63 has no grammar for (checked by hand against the
            // engines' manuals): MySQL `CREATE USER 'u'@'host'` and `PARTITION BY` on ALTER
            // TABLE, PostgreSQL `ATTACH PARTITION`, `ALTER TABLE … RESET (…)` and `DROP INDEX
            // CONCURRENTLY IF EXISTS`, T-SQL `SET STATISTICS IO, TIME`, `RECONFIGURE` and
            // `CREATE PARTITION FUNCTION`.
            "CREATE USER",
            "SET STATISTICS",
            "RECONFIGURE",
            "CREATE PARTITION",
            "DROP INDEX CONCURRENTLY",
        ];
        let partition_ddl = upper.starts_with("ALTER TABLE")
            && (upper.contains(" PARTITION BY ")
                || upper.contains(" ATTACH PARTITION ")
                || upper.contains(" RESET ("));
        if stmt.is_empty()
            || stmt.starts_with("--")
            || FACT.is_match(stmt)
            || stmt.contains("...")
            || stmt.contains('\u{2026}')
            || engine_command.iter().any(|c| upper.starts_with(c))
            || partition_ddl
        {
            continue;
        }
        if let Err(e) = sqlparser::parser::Parser::parse_sql(dialect.as_ref(), stmt) {
            return Some(format!("{e}: {stmt}"));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// A private PostgreSQL cluster (initdb on a free port).

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
pub const PREFIX: &str = "%m [%p] %q%u@%d ";

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Runs a PostgreSQL tool, as the `postgres` user when the tests run as root (initdb and
/// postgres refuse to run as root).
pub fn pg_tool(tool: &str, args: &[&str]) -> std::process::Output {
    let bin = format!("{PG_BIN}/{tool}");
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &bin]);
        c
    } else {
        Command::new(&bin)
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

/// A private PostgreSQL 15 cluster in a temporary directory, logging everything; stopped on
/// drop. For tests that need server settings the shared server lacks (logging, preload
/// libraries, max_prepared_transactions).
pub struct PrivatePg {
    pub dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl PrivatePg {
    pub fn start() -> PrivatePg {
        Self::start_with("")
    }

    /// A cluster with `extra` appended to its postgresql.conf (later settings win).
    pub fn start_with(extra: &str) -> PrivatePg {
        let dir = tempfile::tempdir().expect("tempdir");
        if is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(st.success(), "chown the cluster directory to postgres");
        }
        let data = dir.path().join("data");
        let out = pg_tool(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\n\
             logging_collector = on\nlog_destination = 'stderr,csvlog,jsonlog'\n\
             log_directory = '{logdir}'\nlog_filename = 'pg.log'\nlog_rotation_size = 0\n\
             log_line_prefix = '{PREFIX}'\nlog_min_duration_statement = 0\nlog_lock_waits = on\n\
             deadlock_timeout = '200ms'\nlog_checkpoints = on\nlog_connections = on\n\
             log_disconnections = on\nlog_temp_files = 0\nwork_mem = '64kB'\n\
             lc_messages = 'C'\nlog_timezone = 'UTC'\nfsync = off\nautovacuum = off\n",
            sock = dir.path().display(),
            logdir = dir.path().join("log").display(),
        );
        let conf_path = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf_path).expect("postgresql.conf");
        text.push_str(&conf);
        text.push_str(extra);
        std::fs::write(&conf_path, text).expect("write postgresql.conf");
        let out = pg_tool(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &dir.path().join("startup.log").display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(dir.path().join("startup.log")).unwrap_or_default()
        );
        PrivatePg {
            dir,
            port,
            running: true,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server so that every log line is written.
    pub fn stop(&mut self) {
        if self.running {
            let data = self.dir.path().join("data");
            let _ = pg_tool(
                "pg_ctl",
                &[
                    "-D",
                    &data.display().to_string(),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
            );
            self.running = false;
        }
    }

    pub fn log(&self, ext: &str) -> PathBuf {
        self.dir.path().join("log").join(format!("pg.{ext}"))
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.running {
            let data = self.dir.path().join("data");
            let _ = pg_tool(
                "pg_ctl",
                &["-D", &data.display().to_string(), "-m", "immediate", "stop"],
            );
        }
    }
}

/// A private MariaDB server in a temporary directory (its data directory, global status and
/// server-wide locks are then the test's alone), with `extra` server options; killed on drop.
/// `None` when mariadb-install-db or mariadbd cannot run here.
pub struct PrivateMaria {
    child: std::process::Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivateMaria {
    pub fn start(extra: &[String]) -> Option<PrivateMaria> {
        let dir = tempfile::tempdir().ok()?;
        let data = dir.path().join("data");
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            install.arg("--user=root");
        }
        if !install.status().ok()?.success() {
            return None;
        }
        let port = free_port();
        let server = ["/usr/sbin/mariadbd", "/usr/bin/mariadbd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("mariadbd");
        let mut cmd = Command::new(server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", dir.path().join("sock").display()))
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("err.log").display()
            ))
            .arg("--innodb-buffer-pool-size=16M")
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if is_root() {
            cmd.arg("--user=root");
        }
        let child = cmd.spawn().ok()?;
        Some(PrivateMaria {
            child,
            _dir: dir,
            port,
        })
    }

    pub fn url(&self, db: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }

    /// A root connection once the server accepts connections (up to 30 s).
    pub async fn connect(&self, db: &str) -> sqlx::MySqlConnection {
        for _ in 0..300 {
            if let Ok(c) = <sqlx::MySqlConnection as sqlx::Connection>::connect(&self.url(db)).await
            {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the private MariaDB did not accept connections within 30 s");
    }
}

impl Drop for PrivateMaria {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
