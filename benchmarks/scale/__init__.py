"""Scale: many curves, combinations or mice in one fit; time, ESS per second, accuracy."""
