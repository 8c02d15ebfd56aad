package store

// FunctionCacheMisses returns how many unknown names c remembers.
func FunctionCacheMisses(c *FunctionCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.absent.len()
}

// TokenCacheMisses returns how many unknown hashes c remembers.
func TokenCacheMisses(c *TokenCache) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.absent.len()
}
