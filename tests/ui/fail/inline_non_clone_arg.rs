use parallel_run::parallel_run;

pub struct Token(u64);

#[parallel_run(candidate = redeem_v2, mode = inline)]
fn redeem(token: Token) -> u64 {
    token.0
}

fn redeem_v2(token: Token) -> u64 {
    token.0
}

fn main() {
    redeem(Token(1));
}
