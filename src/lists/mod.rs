pub mod metalink;
pub mod primary;
pub mod repomd;
pub mod rpmmd;
