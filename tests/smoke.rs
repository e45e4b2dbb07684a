use parallel_run::{parallel_run, Outcome};

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    cents: u64,
}

#[parallel_run(candidate = total_v2)]
fn total(items: &[Item], currency: &str) -> u64 {
    let _ = currency;
    items.iter().map(|i| i.cents).sum()
}
fn total_v2(items: &[Item], currency: &str) -> u64 {
    let _ = currency;
    items.iter().map(|i| i.cents).sum::<u64>() + if items.len() > 2 { 1 } else { 0 }
}

#[test]
fn smoke() {
    assert_eq!(total(&[Item { cents: 1 }], "EUR"), 1);
    assert_eq!(
        total(
            &[Item { cents: 1 }, Item { cents: 1 }, Item { cents: 1 }],
            "EUR"
        ),
        3
    );
    assert!(parallel_run::wait_idle(std::time::Duration::from_secs(5)));
    let s = parallel_run::snapshot::experiment("smoke::total").unwrap();
    assert_eq!(s.counts.get(Outcome::Match), 1);
    assert_eq!(s.counts.get(Outcome::Mismatch), 1);
    println!("{}", s.discrepancies[0].detail);
}
