use parallel_run::parallel_run;

#[derive(Clone, Debug, PartialEq)]
pub struct Card {
    pub pan: String,
}

// Recorded arguments are serialised: `Card` must implement `Serialize`.
#[parallel_run(candidate = charge_v2, record_inputs = true)]
fn charge(card: Card, cents: u64) -> u64 {
    cents + card.pan.len() as u64
}

fn charge_v2(card: Card, cents: u64) -> u64 {
    cents + card.pan.len() as u64
}

fn main() {
    charge(Card { pan: "4111".into() }, 1);
}
