"""An asyncpg client of hoop, as an agent would write it: plain fetches, a prepared statement,
cursors iterated and moved (asyncpg runs `MOVE FORWARD n <portal>` on its own protocol
portals), refused statements (one prepared), and the connection used after it. Prints what it saw as JSON."""
import asyncio
import json
import sys

import asyncpg


async def main(port, token):
    c = await asyncpg.connect(host="127.0.0.1", port=port, user="agent-1", password=token, database="app", ssl=False)
    out = {}
    rows = await c.fetch("select id, name, email, card from users order by id")
    out["rows"] = [[str(v) for v in r] for r in rows]
    st = await c.prepare("select name from users where id = $1")
    out["prepared"] = [await st.fetchval(1), await st.fetchval(2)]
    async with c.transaction():
        got = [r["x"] async for r in c.cursor("select x from generate_series(1, 1200) x", prefetch=500)]
        out["cursor"] = [len(got), got[0], got[-1]]
        cur = await c.cursor("select x from generate_series(1, 100) x")
        out["moved"] = await cur.forward(50)
        out["after_move"] = (await cur.fetchrow())["x"]
        out["emails"] = [r["email"] async for r in c.cursor("select email from users order by id")]
    try:
        await c.execute("drop table users")
        out["drop"] = "ran"
    except asyncpg.PostgresError as e:
        out["drop"] = f"{e.sqlstate}: {e}"
    # Compatibility round 4: a refused statement with parameters, prepared. asyncpg checks the
    # arguments against the statement's description before it binds.
    try:
        st = await c.prepare("update users set name = $1")
        out["prepared_refused"] = f"prepared with {len(st.get_parameters())} parameters"
        await st.fetch("x")
    except asyncpg.PostgresError as e:
        out["prepared_refused"] = f"{e.sqlstate}: {e}"
    except Exception as e:
        out["prepared_refused"] = f"{type(e).__name__}: {e}"
    out["after"] = await c.fetchval("select 41 + 1")
    # Parse and Describe with a Flush, then the COPY as a Query before any Sync.
    await c.execute("create temp table copied (x int, s text)")
    out["copied"] = await c.copy_records_to_table("copied", records=[(1, "a"), (2, "b")])
    out["copied_back"] = await c.fetchval("select count(*) from copied")
    await c.close()
    print(json.dumps(out))


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
