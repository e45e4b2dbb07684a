fn main() {
    // The files of shadow-runtime/src/sync/ pick their loom constructors under this cfg; set for
    // this crate only, not for loom or its dependencies.
    println!("cargo:rustc-check-cfg=cfg(loom)");
    println!("cargo:rustc-cfg=loom");
}
