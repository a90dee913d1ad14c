package cdp.sql;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * HiveServer2 CUSTOM login for the governed SQL endpoint (cdp/app/sql_endpoint.py).
 *
 * <p>Users come from the file named by the system property {@code cdp.sql.users_file}, read
 * again at every login so that {@code cdp sql-user add} takes effect without a restart. One
 * line per user: {@code name:role:pbkdf2_sha256$iterations$salt_hex$hash_hex}, written by
 * {@code cdp sql-user add} (never a password in clear). Only users whose role is in the
 * system property {@code cdp.sql.roles} (comma separated) may log in: the analysts' endpoint
 * admits analysts and officers, the privacy officers' endpoint officers only.
 */
public class FileAuthProvider implements PasswdAuthenticationProvider {

  // A hash for unknown users, so that a wrong name costs the same time as a wrong password
  // (the rounds of cdp/app/sql_endpoint.py's PBKDF2_ITERATIONS).
  private static final String DUMMY =
      "pbkdf2_sha256$200000$00000000000000000000000000000000$"
          + "0000000000000000000000000000000000000000000000000000000000000000";

  static String[] entry(String user) throws AuthenticationException {
    String file = System.getProperty("cdp.sql.users_file", "");
    if (file.isEmpty()) throw new AuthenticationException("no users file configured");
    String text;
    try {
      text = new String(Files.readAllBytes(Paths.get(file)), StandardCharsets.UTF_8);
    } catch (Exception e) {
      throw new AuthenticationException("users file unreadable");
    }
    for (String line : text.split("\n")) {
      line = line.trim();
      if (line.isEmpty() || line.startsWith("#")) continue;
      String[] parts = line.split(":", 3);
      if (parts.length == 3 && parts[0].equals(user)) return parts;
    }
    return null;
  }

  static byte[] unhex(String s) {
    byte[] out = new byte[s.length() / 2];
    for (int i = 0; i < out.length; i++) {
      out[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
    }
    return out;
  }

  static boolean verify(String password, String stored) {
    try {
      String[] p = stored.split("\\$");
      if (p.length != 4 || !p[0].equals("pbkdf2_sha256")) return false;
      int iterations = Integer.parseInt(p[1]);
      byte[] salt = unhex(p[2]);
      byte[] expected = unhex(p[3]);
      PBEKeySpec spec =
          new PBEKeySpec(password.toCharArray(), salt, iterations, expected.length * 8);
      byte[] got =
          SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
      return MessageDigest.isEqual(got, expected);
    } catch (Exception e) {
      return false;
    }
  }

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    String[] found = user == null ? null : entry(user);
    Set<String> roles =
        new HashSet<>(Arrays.asList(System.getProperty("cdp.sql.roles", "").split(",")));
    boolean ok = verify(password == null ? "" : password, found == null ? DUMMY : found[2]);
    if (!ok || found == null || !roles.contains(found[1])) {
      throw new AuthenticationException("Invalid user name or password for user '" + user + "'");
    }
  }
}
