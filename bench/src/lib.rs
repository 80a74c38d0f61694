//! Hosts the `peers` benchmark only (`cargo bench -p shmptr-bench --bench peers`,
//! in `benches/peers/`); this library is empty. The benchmark lives in its own
//! unpublished crate so that `shmptr-linux`'s tests and examples do not build the
//! `shared_memory` crate it compares against.
