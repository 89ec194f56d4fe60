"""Resolution: pay the escrow out: release to the seller, refund to the buyer, or split a dispute."""
