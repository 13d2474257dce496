pub use timely_connect;
