package mysql

import (
	"strings"
	"testing"
)

// TestRewriteGrant covers the SHOW GRANTS lines MariaDB 10.11 and MySQL 8
// print; the replay against a real server is in TestAlternatingCopiesEveryGrant.
func TestRewriteGrant(t *testing.T) {
	to := account("app_clone", "10.0.%")
	for _, tc := range []struct {
		name, user, host, line, want string
	}{
		{"usage with hash and limits", "app", "10.0.%",
			"GRANT USAGE ON *.* TO `app`@`10.0.%` IDENTIFIED BY PASSWORD '*DB14CBAE92D7CB2F84BD3AA7222415B564A4054A' WITH MAX_QUERIES_PER_HOUR 100",
			"GRANT USAGE ON *.* TO `app_clone`@`10.0.%` WITH MAX_QUERIES_PER_HOUR 100"},
		{"usage with hash only", "app", "10.0.%",
			"GRANT USAGE ON *.* TO `app`@`10.0.%` IDENTIFIED BY PASSWORD '*DB14CBAE92D7CB2F84BD3AA7222415B564A4054A'",
			"GRANT USAGE ON *.* TO `app_clone`@`10.0.%`"},
		{"plugin with quoted WITH", "app", "10.0.%",
			"GRANT USAGE ON *.* TO `app`@`10.0.%` IDENTIFIED VIA ed25519 USING 'x WITH y' OR unix_socket REQUIRE SSL",
			"GRANT USAGE ON *.* TO `app_clone`@`10.0.%` REQUIRE SSL"},
		{"grant option", "app", "10.0.%",
			"GRANT INSERT ON `d1`.* TO `app`@`10.0.%` WITH GRANT OPTION",
			"GRANT INSERT ON `d1`.* TO `app_clone`@`10.0.%` WITH GRANT OPTION"},
		{"column", "app", "10.0.%",
			"GRANT SELECT (`v`) ON `d1`.`t` TO `app`@`10.0.%`",
			"GRANT SELECT (`v`) ON `d1`.`t` TO `app_clone`@`10.0.%`"},
		{"mariadb role", "app", "10.0.%",
			"GRANT `r1` TO `app`@`10.0.%` WITH ADMIN OPTION",
			"GRANT `r1` TO `app_clone`@`10.0.%` WITH ADMIN OPTION"},
		{"mysql 8 role", "app", "10.0.%",
			"GRANT `r1`@`%` TO `app`@`10.0.%`",
			"GRANT `r1`@`%` TO `app_clone`@`10.0.%`"},
		{"default role", "app", "10.0.%",
			"SET DEFAULT ROLE `r1` FOR `app`@`10.0.%`",
			"SET DEFAULT ROLE `r1` FOR `app_clone`@`10.0.%`"},
		{"mysql 5.7 quotes", "app", "10.0.%",
			"GRANT SELECT ON `d1`.* TO 'app'@'10.0.%'",
			"GRANT SELECT ON `d1`.* TO `app_clone`@`10.0.%`"},
		{"grantee text inside an object name", "app", "10.0.%",
			"GRANT SELECT ON `x TO ``app``@``10.0.%``` .* TO `app`@`10.0.%`",
			"GRANT SELECT ON `x TO ``app``@``10.0.%``` .* TO `app_clone`@`10.0.%`"},
		{"backtick in the name", "a`b", "10.0.%",
			"GRANT SELECT ON *.* TO `a``b`@`10.0.%`",
			"GRANT SELECT ON *.* TO `app_clone`@`10.0.%`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rewriteGrant(tc.line, tc.user, tc.host, to)
			if err != nil || got != tc.want {
				t.Fatalf("rewriteGrant =\n%q, %v\nwant\n%q", got, err, tc.want)
			}
		})
	}
	for _, bad := range []string{
		"REVOKE SELECT ON *.* FROM `app`@`10.0.%`",
		"GRANT SELECT ON *.* TO `other`@`10.0.%`",
		"GRANT SELECT ON *.* TO `app`@`%`",
		"GRANT SELECT ON *.* TO `app`@`10.0.%x`",
	} {
		if got, err := rewriteGrant(bad, "app", "10.0.%", to); err == nil {
			t.Errorf("rewriteGrant(%q) = %q, want an error", bad, got)
		}
	}
	// The error never quotes the line, which may hold a password hash.
	_, err := rewriteGrant("GRANT USAGE ON *.* TO `x`@`%` IDENTIFIED BY PASSWORD '*SECRETHASH'", "app", "%", to)
	if err == nil || strings.Contains(err.Error(), "SECRETHASH") {
		t.Fatalf("error %v quotes the line", err)
	}
}
