"""Calendar providers: each translates one provider into the neutral model."""
