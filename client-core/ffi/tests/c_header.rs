//! The checked-in C header is exactly what cbindgen generates from `src/c_api.rs`.
//!
//! After changing the C API: `HUSH_BLESS=1 cargo test -p hush-ffi --test c_header`.

use std::path::Path;

#[test]
fn c_header_is_up_to_date() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/c_api.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let path = crate_dir.join("include/hush.h");
    if std::env::var_os("HUSH_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} is not what cbindgen generates from src/c_api.rs; run \
         `HUSH_BLESS=1 cargo test -p hush-ffi --test c_header` and commit the result",
        path.display()
    );
}
