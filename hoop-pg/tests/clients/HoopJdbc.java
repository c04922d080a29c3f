import java.sql.*;

/** A JDBC (pgjdbc) client of hoop, as an agent would write it: a plain query, a statement
 *  prepared on the server after its fifth run (pgjdbc's prepareThreshold), a fetch-size cursor
 *  (a portal run 100 rows at a time), a batch of inserts into a temp table, a refused
 *  statement, a batch with a write over the written-rows ceiling, and the connection used
 *  after them. Prints one line per check. */
public class HoopJdbc {
    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/app?sslmode=disable";
        try (Connection c = DriverManager.getConnection(url, "agent-1", args[1])) {
            StringBuilder out = new StringBuilder();
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select id, name, email, card from users order by id")) {
                while (r.next()) {
                    out.append("row:").append(r.getInt(1)).append('|').append(r.getString(2)).append('|').append(r.getString(3)).append('|').append(r.getString(4)).append('\n');
                }
            }
            try (PreparedStatement p = c.prepareStatement("select name from users where id = ?")) {
                for (int i = 0; i < 7; i++) {
                    p.setInt(1, 1 + i % 2);
                    try (ResultSet r = p.executeQuery()) {
                        r.next();
                        out.append("prepared:").append(r.getString(1)).append('\n');
                    }
                }
            }
            c.setAutoCommit(false);
            try (PreparedStatement p = c.prepareStatement("select x from generate_series(1, 1200) x")) {
                p.setFetchSize(100);
                int n = 0;
                long last = 0;
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) {
                        n++;
                        last = r.getLong(1);
                    }
                }
                out.append("cursor:").append(n).append(',').append(last).append('\n');
            }
            try (Statement s = c.createStatement()) {
                s.execute("create temp table jdbc_batch (id int, v text)");
            }
            try (PreparedStatement p = c.prepareStatement("insert into jdbc_batch values (?, ?)")) {
                for (int i = 1; i <= 20; i++) {
                    p.setInt(1, i);
                    p.setString(2, "v" + i);
                    p.addBatch();
                }
                int total = 0;
                for (int n : p.executeBatch()) total += n;
                out.append("batch:").append(total).append('\n');
            }
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select count(*) from jdbc_batch")) {
                r.next();
                out.append("batch_count:").append(r.getInt(1)).append('\n');
            }
            c.commit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.execute("drop table users");
                out.append("drop:ran\n");
            } catch (SQLException e) {
                out.append("drop:").append(e.getSQLState()).append(' ').append(e.getMessage().split("\n")[0]).append('\n');
            }
            // Its second entry touches all 1,500 rows of jdbc_capped, over the ceiling of 1,000.
            try (PreparedStatement p = c.prepareStatement("update jdbc_capped set v = 1 where id > ?")) {
                for (int id : new int[] {1400, 0, 1499}) {
                    p.setInt(1, id);
                    p.addBatch();
                }
                p.executeBatch();
                out.append("capped:ran\n");
            } catch (SQLException e) {
                out.append("capped:").append(e.getSQLState()).append(' ').append(e.getMessage().split("\n")[0]).append('\n');
            }
            // With a fetch size, pgjdbc runs a write's RETURNING in parts (a row-limited Execute)
            // inside a transaction: the write counts once its last part comes.
            c.setAutoCommit(false);
            try (PreparedStatement p = c.prepareStatement("delete from jdbc_capped where id = ? returning id")) {
                p.setFetchSize(1);
                p.setInt(1, 7);
                int n = 0;
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) n++;
                }
                c.commit();
                out.append("returning:").append(n).append('\n');
            } catch (SQLException e) {
                out.append("returning:").append(e.getSQLState()).append(' ').append(e.getMessage().split("\n")[0]).append('\n');
                c.rollback();
            }
            try (PreparedStatement p = c.prepareStatement("update jdbc_capped set v = 2 where id > ? returning id")) {
                p.setFetchSize(100);
                p.setInt(1, 0);
                int n = 0;
                try (ResultSet r = p.executeQuery()) {
                    while (r.next()) n++;
                }
                c.commit();
                out.append("returning_over:ran ").append(n).append('\n');
            } catch (SQLException e) {
                out.append("returning_over:").append(e.getSQLState()).append(' ').append(e.getMessage().split("\n")[0]).append('\n');
                c.rollback();
            }
            c.setAutoCommit(true);
            try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("select 41 + 1")) {
                r.next();
                out.append("after:").append(r.getInt(1)).append('\n');
            }
            System.out.print(out);
        }
    }
}
