//! Compiles the CRIU image schemas in `proto/` into a descriptor set that the
//! binary embeds; protox needs no `protoc`, and encoding the set this way keeps
//! the `(criu).…` field options that the JSON mapping depends on.

use std::path::PathBuf;

fn main() {
    let proto_dir = PathBuf::from("proto");
    println!("cargo:rerun-if-changed=proto");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&proto_dir)
        .expect("proto/ directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "proto"))
        .map(|p| PathBuf::from(p.file_name().unwrap()))
        .collect();
    files.sort();
    let set = protox::Compiler::new([&proto_dir])
        .expect("protox compiler")
        .include_imports(true)
        .include_source_info(false)
        .open_files(&files)
        .unwrap_or_else(|e| panic!("compiling proto/: {e}"))
        .encode_file_descriptor_set();
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("criu-images.bin");
    std::fs::write(out, set).expect("writing descriptor set");
}
