use parallel_run::parallel_run;

pub struct Connection {
    id: u32,
}

#[parallel_run(candidate = query_v2)]
fn query(conn: Connection, sql: &str) -> u32 {
    let _ = sql;
    conn.id
}

fn query_v2(conn: Connection, sql: &str) -> u32 {
    let _ = sql;
    conn.id
}

fn main() {
    query(Connection { id: 1 }, "select 1");
}
