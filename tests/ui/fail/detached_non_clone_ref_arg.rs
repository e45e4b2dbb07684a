use parallel_run::parallel_run;

pub struct Connection {
    id: u32,
}

#[parallel_run(candidate = query_v2)]
fn query(sql: &str, conn: &Connection) -> u32 {
    let _ = sql;
    conn.id
}

fn query_v2(sql: &str, conn: &Connection) -> u32 {
    let _ = sql;
    conn.id
}

fn main() {
    query("select 1", &Connection { id: 1 });
}
