//! A synthetic district: signed parties, lots and supply chains sized from the district plan.
