// Package sqlbind lets a store write its queries once with ? placeholders
// and run them on PostgreSQL, whose placeholders are numbered ($1, $2...).
// Auth's and metadata's stores both use it.
package sqlbind

import (
	"strconv"
	"strings"
)

// Numbered rewrites each ? in query into $1, $2... in order. Queries must
// hold no ? inside string literals.
func Numbered(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for {
		i := strings.IndexByte(query, '?')
		if i < 0 {
			b.WriteString(query)
			return b.String()
		}
		n++
		b.WriteString(query[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		query = query[i+1:]
	}
}
