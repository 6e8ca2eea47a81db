package viz

// millis turns seconds into milliseconds, keeping nil.
func millis(s *float64) *float64 {
	if s == nil {
		return nil
	}
	return ptr(*s * 1000)
}
