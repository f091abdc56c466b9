// Package declarative keeps keygate's configuration in a file: it reads a
// YAML document of services, routes, plans and consumers, compares it with
// what a running keygate holds (through the admin API's Go client), and
// applies the difference; it also exports a running configuration as such a
// document and translates Kong's declarative format (kong.yml) into one.
package declarative
