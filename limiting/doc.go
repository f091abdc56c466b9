// Package limiting is the part of the key decision after the key itself:
// a usage plan's limits and a key's credits, applied alike by the gateway
// and the verify API, so that the two never disagree about a request.
package limiting
