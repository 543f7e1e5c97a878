"""Child processes: one supervisor for all of them (supervisor), the runtime inside each child
(child) and the shared-memory frame ring generators hand their frames over in (ring)."""
