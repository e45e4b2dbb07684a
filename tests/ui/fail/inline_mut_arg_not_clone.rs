use parallel_run::parallel_run;

pub struct Socket {
    sent: u32,
}

#[parallel_run(candidate = send_v2, mode = inline)]
fn send(socket: &mut Socket, n: u32) -> u32 {
    socket.sent += n;
    socket.sent
}

fn send_v2(socket: &mut Socket, n: u32) -> u32 {
    socket.sent += n;
    socket.sent
}

fn main() {
    send(&mut Socket { sent: 0 }, 1);
}
