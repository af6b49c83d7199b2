//! Writes the fuzzers' seed corpora (`fuzz/run.sh` runs this): each of
//! [`fuzz_checks::seeds`], one file each, into every directory given.

fn main() -> std::io::Result<()> {
    let seeds = fuzz_checks::seeds();
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    for dir in &dirs {
        std::fs::create_dir_all(dir)?;
        for (i, seed) in seeds.iter().enumerate() {
            std::fs::write(format!("{dir}/event-{i:05}"), seed)?;
        }
    }
    eprintln!("{} seeds in each of: {}", seeds.len(), dirs.join(", "));
    Ok(())
}
