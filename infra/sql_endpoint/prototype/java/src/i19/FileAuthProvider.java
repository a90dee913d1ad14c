package i19;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.Map;
import javax.security.sasl.AuthenticationException;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * HiveServer2 CUSTOM authentication provider.
 * Allowed users come from the file named by system property "i19.thrift.users.file"
 * (re-read on every login) or, if unset, from env var I19_THRIFT_USERS.
 * Format: one "user:sha256hex(password)" per line (or comma separated in the env var).
 */
public class FileAuthProvider implements PasswdAuthenticationProvider {

  static Map<String, String> load() throws AuthenticationException {
    String text;
    try {
      String f = System.getProperty("i19.thrift.users.file");
      if (f != null && !f.isEmpty()) {
        text = new String(Files.readAllBytes(Paths.get(f)), StandardCharsets.UTF_8);
      } else {
        text = System.getenv("I19_THRIFT_USERS");
      }
    } catch (Exception e) {
      throw new AuthenticationException("auth config unreadable");
    }
    Map<String, String> m = new HashMap<>();
    if (text == null) return m;
    for (String line : text.split("[,\\n]")) {
      line = line.trim();
      if (line.isEmpty() || line.startsWith("#")) continue;
      int i = line.indexOf(':');
      if (i <= 0) continue;
      m.put(line.substring(0, i), line.substring(i + 1).trim().toLowerCase());
    }
    return m;
  }

  static String sha256(String s) throws Exception {
    byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    StringBuilder sb = new StringBuilder();
    for (byte b : d) sb.append(String.format("%02x", b));
    return sb.toString();
  }

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    Map<String, String> users = load();
    String expected = user == null ? null : users.get(user);
    boolean ok = false;
    try {
      String got = sha256(password == null ? "" : password);
      // constant-time compare even for unknown users
      String exp = expected == null ? "0000000000000000000000000000000000000000000000000000000000000000" : expected;
      ok = MessageDigest.isEqual(got.getBytes(StandardCharsets.UTF_8), exp.getBytes(StandardCharsets.UTF_8))
          && expected != null;
    } catch (Exception e) {
      ok = false;
    }
    if (!ok) {
      throw new AuthenticationException("Invalid user name or password for user '" + user + "'");
    }
  }
}
