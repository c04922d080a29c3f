"""A psycopg 3 client of hoop, as an agent would write it: writes over the written-rows ceiling
(1,000 rows) through `executemany` (psycopg pipelines it) and through an explicit pipeline with a
Sync after each statement, then in a transaction; each time the connection is used after the
refusal. Prints what it saw as JSON."""
import json
import sys

import psycopg


def attempt(f):
    try:
        f()
        return "ok"
    except psycopg.Error as e:
        return f"{e.sqlstate}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"


def main(port, token):
    dsn = f"host=127.0.0.1 port={port} user=agent-1 password={token} dbname=app sslmode=disable"
    out = {}
    with psycopg.connect(dsn, autocommit=True) as c:
        # The second entry touches all 1,500 rows.
        out["executemany"] = attempt(lambda: c.cursor().executemany("update psy_capped set v = %s where id > %s", [(1, 1400), (1, 0), (1, 1499)]))
        out["after_executemany"] = c.execute("select 41 + 1").fetchone()[0]
        # A pipeline with a Sync after each statement: the statements around the refused one
        # run and commit, as around any failing statement.
        steps = []
        with c.pipeline() as p:
            for sql in ["insert into psy_pipe values (3)", "update psy_capped set v = 2 where id > 0", "insert into psy_pipe values (4)"]:
                def run(sql=sql):
                    c.execute(sql)
                    p.sync()
                steps.append(attempt(run))
            cur = c.execute("select count(*) from psy_pipe")
            p.sync()
            steps.append(cur.fetchone()[0])
        out["pipeline"] = steps
        out["after_pipeline"] = c.execute("select 41 + 1").fetchone()[0]
    # In a transaction: the refusal fails it, as a server error would.
    with psycopg.connect(dsn) as c:
        c.execute("insert into psy_pipe values (5)")
        out["in_tx"] = attempt(lambda: c.cursor().executemany("update psy_capped set v = %s where id > %s", [(3, 0)]))
        out["in_tx_next"] = attempt(lambda: c.execute("select 1"))
        c.rollback()
        out["after_tx"] = c.execute("select 41 + 1").fetchone()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
