//! The guide: one page per topic, from the attribute's arguments to the measured overhead.
//!
//! Each page is a markdown file of the repository's `docs/guide/`, shown here by rustdoc (so
//! every example on it is compiled and run as a doctest) and on GitHub as it is. The attribute's
//! page is the documentation of the [`parallel_run`](macro@crate::parallel_run) macro itself, so
//! that an editor shows it on the attribute.
//!
//! The [landing page](crate#the-guide) says what each page covers.

// How the links between pages work, on both sides. A page links to another, or to a section of
// one, with a reference link (`[modes]`, `[the shadow lane][the-shadow-lane]`), and ends with
// the definitions GitHub uses (`[modes]: modes.md`). Rustdoc reads the definitions below first,
// and the first definition of a label wins, so here the same label names the rustdoc page
// (`crate::guide::modes`). API items are linked as rustdoc links (`[`live`]`), defined here
// only. `tests/guide.rs` checks that every page is declared here, linked from the landing page
// and the README, and that every definition of a page has its counterpart here.
macro_rules! links {
    () => {
        concat!(
            "\n",
            // pages and their sections
            "[attribute]: macro@crate::parallel_run\n",
            "[comparators]: crate::guide::comparators\n",
            "[configuration]: crate::guide::configuration\n",
            "[configuration-file]: crate::guide::configuration#the-configuration-file\n",
            "[cutover]: crate::guide::cutover\n",
            "[discrepancy-log-and-publishers]: crate::guide::observability#discrepancy-log-and-publishers\n",
            "[fleet]: crate::guide::fleet\n",
            "[http]: crate::guide::http\n",
            "[limits]: crate::guide::limits\n",
            "[live-configuration]: crate::guide::configuration#live-configuration\n",
            "[logs]: crate::guide::observability#logs\n",
            "[metrics]: crate::guide::observability#metrics\n",
            "[modes]: crate::guide::modes\n",
            "[noise-cancellation]: crate::guide::strict#noise-cancellation\n",
            "[observability]: crate::guide::observability\n",
            "[outcomes]: crate::guide::outcomes\n",
            "[performance]: crate::guide::performance\n",
            "[replay]: crate::guide::strict#replay-production-discrepancies-as-tests\n",
            "[report]: crate::guide::observability#report\n",
            "[safety]: crate::guide::safety\n",
            "[scientist]: crate::guide::scientist\n",
            "[strict]: crate::guide::strict\n",
            "[the-fleet-wide-gate]: crate::guide::fleet#the-fleet-wide-gate\n",
            "[the-deadline]: crate::guide::cutover#the-deadline\n",
            "[the-promotion-gate]: crate::guide::cutover#the-promotion-gate\n",
            "[the-shadow-context]: crate::guide::cutover#the-shadow-context\n",
            "[the-shadow-lane]: crate::guide::modes#the-shadow-lane\n",
            "[the-snapshot-api]: crate::guide::observability#the-snapshot-api\n",
            // the API
            "[`Comparator`]: crate::Comparator\n",
            "[`derive(ShadowCompare)`]: macro@crate::ShadowCompare\n",
            "[`Discrepancy`]: crate::Discrepancy\n",
            "[`ExperimentSnapshot`]: crate::ExperimentSnapshot\n",
            "[`ExperimentSnapshot::lost`]: crate::ExperimentSnapshot::lost\n",
            "[`ExperimentSnapshot::match_rate`]: crate::ExperimentSnapshot::match_rate\n",
            "[`Outcome`]: crate::Outcome\n",
            "[`Outcome::Shed`]: crate::Outcome::Shed\n",
            "[`Verdict`]: crate::Verdict\n",
            "[`config::clear_strict_failure`]: crate::config::clear_strict_failure\n",
            "[`config::env_var_name`]: crate::config::env_var_name\n",
            "[`config::file::parse`]: crate::config::file::parse\n",
            "[`config::file::watch`]: crate::config::file::watch\n",
            "[`config::on_strict_failure`]: crate::config::on_strict_failure\n",
            "[`config::set_strict`]: crate::config::set_strict\n",
            "[`context::idempotency_key`]: crate::context::idempotency_key\n",
            "[`context::pick`]: crate::context::pick\n",
            "[`context::scope`]: crate::context::scope\n",
            "[`context::write_mode`]: crate::context::write_mode\n",
            "[`cutover::GateStatus`]: crate::cutover::GateStatus\n",
            "[`guard_write`]: crate::guard_write\n",
            "[`in_shadow`]: crate::in_shadow\n",
            "[`lane`]: crate::lane\n",
            "[`lane::set_budget`]: crate::lane::set_budget\n",
            "[`lane::set_queue_capacity`]: crate::lane::set_queue_capacity\n",
            "[`lane::snapshot`]: crate::lane::snapshot\n",
            "[`live`]: crate::live\n",
            "[`live::reset_gate_window`]: crate::live::reset_gate_window\n",
            "[`live::set_deadline`]: crate::live::set_deadline\n",
            "[`live::set_gate`]: crate::live::set_gate\n",
            "[`live::set_ramp`]: crate::live::set_ramp\n",
            "[`live::set_strict`]: crate::live::set_strict\n",
            "[`manual`]: crate::manual\n",
            "[`outcome::OutcomeRecord`]: crate::outcome::OutcomeRecord\n",
            "[`publish::JsonLinesLog`]: crate::publish::JsonLinesLog\n",
            "[`publish::Publisher`]: crate::publish::Publisher\n",
            "[`publish::add_publisher`]: crate::publish::add_publisher\n",
            "[`reload_from_env`]: crate::reload_from_env\n",
            "[`snapshot()`]: crate::snapshot()\n",
            "[`snapshot::RETAINED`]: crate::snapshot::RETAINED\n",
            "[`snapshot::experiment`]: crate::snapshot::experiment\n",
            "[`snapshot::idle`]: crate::snapshot::idle\n",
            "[`snapshot::publish_metrics`]: crate::snapshot::publish_metrics\n",
            "[`sticky`]: crate::sticky\n",
            "[`sticky::is_sampled`]: crate::sticky::is_sampled\n",
            "[`sticky::is_served`]: crate::sticky::is_served\n",
            "[`structural`]: crate::structural\n",
            "[`structural::Structural`]: crate::structural::Structural\n",
            "[`testing::differential`]: crate::testing::differential\n",
            "[`testing::replay`]: crate::testing::replay\n",
            "[`typed`]: crate::typed\n",
            "[`typed::Typed`]: crate::typed::Typed\n",
            "[`typed::diff`]: crate::typed::diff\n",
            "[`wait_idle`]: crate::wait_idle\n",
            "\n",
        )
    };
}
pub(crate) use links;

/// A guide page: the module's documentation is `docs/guide/<name>.md`.
macro_rules! page {
    ($name:ident) => {
        #[doc = crate::guide::links!()]
        #[doc = include_str!(concat!("../docs/guide/", stringify!($name), ".md"))]
        pub mod $name {}
    };
}

page!(modes);
page!(comparators);
page!(outcomes);
page!(configuration);
page!(safety);
page!(cutover);
page!(strict);
page!(scientist);
page!(observability);
page!(http);
page!(fleet);
page!(performance);
page!(limits);
