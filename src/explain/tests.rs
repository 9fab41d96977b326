use super::*;

fn ok(sql: &str, e: Engine) -> SafeSelect {
    check_select(sql, e).unwrap_or_else(|r| panic!("{e:?} refused {sql:?}: {r}"))
}

fn refused(sql: &str, e: Engine) -> Refusal {
    match check_select(sql, e) {
        Ok(s) => panic!("{e:?} accepted {sql:?} as {:?}", s.sql()),
        Err(r) => r,
    }
}

#[test]
fn accepts_ordinary_selects_and_sends_the_users_own_text() {
    let s = ok("select * from orders where id = 1;", Engine::Postgres);
    assert_eq!(s.sql(), "select * from orders where id = 1");
    let s = ok("EXPLAIN ANALYZE SELECT * FROM t", Engine::Postgres);
    assert!(s.analyze_requested);
    assert_eq!(s.sql(), "SELECT * FROM t");
    let s = ok(
        "explain (analyze, buffers) select 1 -- trailing\n;",
        Engine::Postgres,
    );
    assert_eq!(s.sql(), "select 1");
    assert!(!s.has_parameters());
    assert!(ok("select * from t where id = $1", Engine::Postgres).has_parameters());
    assert!(ok("select * from t where id = ?", Engine::Mysql).has_parameters());
    for (e, sql) in [
        (Engine::Postgres, "WITH x AS (SELECT 1 AS a) SELECT a FROM x"),
        (Engine::Postgres, "select o.id, count(*) filter (where i.qty > 1) from orders o join order_items i on i.order_id = o.id group by o.id having count(*) > 2 order by 2 desc limit 10"),
        (Engine::Postgres, "select data->>'name', data->'a'->'b', id::text from events where created_at > now() - interval '1 day'"),
        (Engine::Postgres, "select * from t where a <> 1 and b != 2 and c >= 3 and d <= 4 and e is not null"),
        (Engine::Postgres, "select lower(email), coalesce(name, 'x'), date_trunc('hour', ts) from users where email like '%@x.com'"),
        (Engine::Postgres, "select * from generate_series(1, 10) g"),
        (Engine::Postgres, "select \"Weird Name\".id from \"Weird Name\""),
        (Engine::Postgres, "select $$dollar ' quoted$$, $t$x$t$"),
        (Engine::Postgres, "select row_number() over (partition by a order by b) from t"),
        (Engine::Postgres, "select * from orders where customer_id = $1"),
        (Engine::Postgres, "select pg_catalog.lower('X')"),
        (Engine::Postgres, "select 1 union all select 2 except select 3"),
        (Engine::Postgres, "select * from a where exists (select 1 from b where b.a_id = a.id) and a.x in (1, 2, 3)"),
        (Engine::Postgres, "select 1.5e3, .5, 2."),
        (Engine::Mysql, "select * from orders where id = 1"),
        (Engine::Mysql, "select `order`.id, concat(a, 'b') from `order` where created_at > now() - interval 1 day"),
        (Engine::Mysql, "SELECT * FROM t # a comment\nWHERE a = \"x\""),
        (Engine::Mysql, "select * from t where id = ? -- comment"),
        (Engine::Mysql, "select ifnull(a, 0), date_format(b, '%Y') from t limit 10 offset 5"),
        (Engine::Sqlite, "select * from events where customer_id = 5"),
        (Engine::Sqlite, "select [a b], `c` from \"t\" where x = :x and y = ?1"),
        (Engine::Sqlite, "select strftime('%Y', ts), count(*) from events group by 1"),
        (Engine::Mssql, "select top 10 [id] from dbo.orders where id = 1"),
    ] {
        let s = ok(sql, e);
        assert!(sql.contains(s.sql()), "{sql} → {}", s.sql());
    }
}

#[test]
fn refuses_statements_other_than_one_select() {
    use Refusal::*;
    assert!(
        matches!(refused("DELETE FROM orders", Engine::Postgres), NotSelect(k) if k == "DELETE")
    );
    assert!(matches!(
        refused("SELECT 1; DROP TABLE x", Engine::Postgres),
        MultipleStatements(2)
    ));
    assert!(matches!(refused("DROP TABLE x", Engine::Mysql), NotSelect(k) if k == "DROP TABLE"));
    assert!(matches!(
        refused("EXPLAIN ANALYZE DELETE FROM t", Engine::Postgres),
        NotSelect(_)
    ));
    assert!(matches!(refused("  ", Engine::Postgres), Empty));
    assert!(matches!(refused(" ;; ", Engine::Postgres), Empty));
    assert!(matches!(
        refused("SELEC oops", Engine::Postgres),
        Parse { .. }
    ));
    assert!(matches!(
        refused("UPDATE t SET a = 1", Engine::Sqlite),
        NotSelect(_)
    ));
    assert!(matches!(
        refused("PRAGMA query_only = 0", Engine::Sqlite),
        NotSelect(_) | Parse { .. }
    ));
}

#[test]
fn refuses_writes_and_locks_at_any_depth() {
    for (e, sql) in [
        (Engine::Postgres, "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
        (Engine::Postgres, "WITH a AS (WITH d AS (UPDATE t SET x = 1 RETURNING *) SELECT * FROM d) SELECT * FROM a"),
        (Engine::Postgres, "SELECT * INTO newt FROM t"),
        (Engine::Postgres, "SELECT * FROM t FOR UPDATE"),
        (Engine::Postgres, "SELECT * FROM (SELECT * FROM t FOR UPDATE) s"),
        (Engine::Postgres, "SELECT (SELECT id FROM t FOR NO KEY UPDATE LIMIT 1)"),
        (Engine::Postgres, "SELECT * FROM t WHERE id IN (SELECT id FROM u FOR SHARE)"),
        (Engine::Mysql, "SELECT * FROM t LOCK IN SHARE MODE"),
        (Engine::Mysql, "SELECT * FROM t WHERE id = (SELECT id FROM u FOR UPDATE)"),
        (Engine::Postgres, "SELECT 1 OPERATOR(public.===) 2"),
    ] {
        let r = refused(sql, e);
        assert!(
            matches!(r, Refusal::WritesOrLocks(_) | Refusal::Parse { .. }),
            "{sql}: {r}"
        );
    }
}

#[test]
fn refuses_side_effect_and_unknown_functions() {
    for (e, sql) in [
        (Engine::Postgres, "select txid_current()"),
        (Engine::Postgres, "select nextval('s')"),
        (Engine::Postgres, "select pg_advisory_lock(1)"),
        (
            Engine::Postgres,
            "select * from t where id = pg_try_advisory_lock(id)",
        ),
        (Engine::Postgres, "select database_to_xml(true, true, '')"),
        (
            Engine::Postgres,
            "select query_to_xml('delete from t', true, true, '')",
        ),
        (Engine::Postgres, "select my_udf(1)"),
        (Engine::Postgres, "select public.lower('x')"),
        (Engine::Postgres, "select \"lower\"('x')"),
        (
            Engine::Postgres,
            "select * from dblink('host=x', 'delete from t') as t(a int)",
        ),
        (Engine::Postgres, "select * from pg_ls_dir('.')"),
        (Engine::Postgres, "select lo_import('/etc/passwd')"),
        (
            Engine::Postgres,
            "select set_config('default_transaction_read_only', 'off', false)",
        ),
        (
            Engine::Postgres,
            "select coalesce(1, (select pg_sleep(10)))",
        ),
        (Engine::Mysql, "select sleep(10)"),
        (Engine::Mysql, "select benchmark(100000000, md5('x'))"),
        (Engine::Mysql, "select get_lock('x', 10)"),
        (Engine::Mysql, "select load_file('/etc/passwd')"),
        (Engine::Mysql, "select mydb.f(1)"),
        (Engine::Mysql, "select `lower`('x')"),
        (Engine::Sqlite, "select load_extension('x')"),
        (Engine::Sqlite, "select readfile('/etc/passwd')"),
        (Engine::Sqlite, "select * from pragma_table_info('t')"),
    ] {
        let r = refused(sql, e);
        assert!(matches!(r, Refusal::Function { .. }), "{sql}: {r}");
    }
}

#[test]
fn refuses_smuggling_through_quoting_and_comments() {
    for (e, sql) in [
        // The cases of issue 12: sqlparser and MySQL read backslashes differently.
        (
            Engine::Mysql,
            r"SELECT '\\' AS a, '; SET SESSION TRANSACTION READ WRITE; COMMIT; DELETE FROM canary WHERE id = 2; -- ' AS b",
        ),
        (
            Engine::Mysql,
            r"SELECT 1 AS `x\`, '; DROP TABLE canary; -- '",
        ),
        (
            Engine::Mysql,
            r#"SELECT "x\"", '; DELETE FROM canary; -- '"#,
        ),
        (Engine::Mysql, "SELECT 1 /*! ; DELETE FROM canary */"),
        (Engine::Mysql, "SELECT 1 /*M!100000 , (SELECT 1) */"),
        (Engine::Mysql, "SELECT /*+ SET_VAR(sql_mode='') */ 1"),
        (Engine::Mysql, "SELECT 1 --x\n; DELETE FROM canary"),
        (Engine::Mysql, "SELECT 1 # ok\n; DELETE FROM canary"),
        // SQLite brackets do not escape.
        (
            Engine::Sqlite,
            "SELECT 1 AS [x]]; SELECT email FROM canary; --]",
        ),
        (
            Engine::Sqlite,
            "SELECT 1; PRAGMA query_only = 0; DELETE FROM canary",
        ),
        (Engine::Sqlite, "SELECT 1 /* unterminated"),
        // PostgreSQL: nested comments, dollar quotes, E'' strings.
        (
            Engine::Postgres,
            "SELECT 1 /* /* */ ; DELETE FROM canary; /* */",
        ),
        (
            Engine::Postgres,
            "SELECT $a$ $b$ ; DELETE FROM canary; $b$ $a$; DELETE FROM canary",
        ),
        (Engine::Postgres, r"SELECT E'\'; DELETE FROM canary; --'"),
        (Engine::Postgres, "SELECT 1 \u{037e} DELETE FROM canary"),
        (Engine::Postgres, "SELECT 1\u{ff1b} DELETE FROM canary"),
        (Engine::Postgres, "SELECT 1\0; DELETE FROM canary"),
    ] {
        let r = refused(sql, e);
        assert!(
            !matches!(r, Refusal::Empty),
            "{sql}: refused for the wrong reason: {r}"
        );
    }
}

#[test]
fn refusal_messages_never_quote_literals() {
    let secret = "hunter2-literal";
    for (e, sql) in [
        (
            Engine::Postgres,
            format!("select '{secret}' from t; delete from t"),
        ),
        (Engine::Mysql, format!(r"select '\\{secret}'")),
        (Engine::Postgres, format!("select my_udf('{secret}')")),
    ] {
        let r = refused(&sql, e);
        assert!(!r.to_string().contains(secret), "{r}");
        assert!(!r.code().contains(secret));
    }
}

/// Deep and huge input is refused before any recursive parsing, on a small stack, for every
/// engine: the 35,000-term expression of issue 12 and deep parentheses.
#[test]
fn deep_and_huge_input_is_refused_without_overflow() {
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            let long_sum = format!("SELECT {}1", "1+".repeat(35_000));
            let mid_sum = format!("SELECT {}1", "1+".repeat(1_500));
            let parens = format!("SELECT {}1{}", "(".repeat(5_000), ")".repeat(5_000));
            let not_chain = format!("SELECT {} 1", "NOT ".repeat(1_500));
            let minus = format!("SELECT {}1", "-".repeat(1_900));
            let huge = format!("SELECT '{}'", "x".repeat(200_000));
            for e in [
                Engine::Postgres,
                Engine::Mysql,
                Engine::Sqlite,
                Engine::Mssql,
            ] {
                for sql in [&long_sum, &parens, &huge] {
                    let r = check_select(sql, e).expect_err("refused");
                    assert!(
                        matches!(r, Refusal::TooLong(_) | Refusal::TooDeep),
                        "{e:?}: {r}"
                    );
                }
                // Within the token limit but deep for the parser: either answer is fine, as
                // long as it returns.
                let _ = check_select(&mid_sum, e);
                let _ = check_select(&not_chain, e);
                let _ = check_select(&minus, e);
                let _ = parse_limited(&long_sum, &PostgreSqlDialect {}, "PostgreSQL");
                let _ = parse_limited(&mid_sum, &PostgreSqlDialect {}, "PostgreSQL");
            }
        })
        .expect("spawn");
    handle.join().expect("no stack overflow");
}

#[test]
fn catalog_style_structural_check_ignores_functions() {
    let stmts = Parser::parse_sql(
        &PostgreSqlDialect {},
        "select pg_size_pretty(pg_database_size(current_database()))",
    )
    .expect("parses");
    let Statement::Query(q) = &stmts[0] else {
        panic!("query")
    };
    assert!(is_read_only_query(q));
}
