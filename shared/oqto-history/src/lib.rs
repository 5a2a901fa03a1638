//! The Oqto history store (being built).
