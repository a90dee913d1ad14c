package cdp.sql;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.catalog.HiveTableRelation;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.View;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.internal.SQLConf;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The read-only guard of the analysts' SQL surfaces ({@code cdp serve-sql} and {@code cdp
 * sql}): a check rule (spark.sql.extensions) on every analyzed statement, which runs before
 * Spark executes a command, so nothing it refuses has run.
 *
 * <p>Open-source Spark has no switch for function and jar statements, and a client can SET
 * spark.sql.runSQLOnFiles back or pass it when it connects; this rule refuses:
 *
 * <ul>
 *   <li>every command but the read-only ones (USE, SHOW, DESCRIBE): writes, DDL, CREATE
 *       FUNCTION, ADD JAR, SET, CACHE, Delta's OPTIMIZE, VACUUM, history;
 *   <li>reads of files by path ({@code delta.`/p`}, {@code parquet.`/p`}, table functions
 *       over paths), and reads of the hidden databases that hold the tables behind the masked
 *       views;
 *   <li>reflect(), java_method() and try_reflect();
 *   <li>a statement from a session whose settings differ from the frozen ones ({@link
 *       #freeze}): spark.sql.runSQLOnFiles set back to true through the settings a client
 *       connects with, which bypass SET.
 * </ul>
 *
 * <p>Dormant until {@link #arm()}: the process sets up its views first. View bodies (written by
 * that set-up) and Delta's own internal reads of its log are trusted and not checked.
 */
public class GuardExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

  private static volatile boolean armed = false;
  private static final Set<Object> exempt =
      Collections.synchronizedSet(Collections.newSetFromMap(new IdentityHashMap<>()));
  private static final Map<String, String> pinned = new ConcurrentHashMap<>();  // see freeze
  private static final Set<String> hidden = ConcurrentHashMap.newKeySet();

  public static void arm() {
    armed = true;
  }

  public static boolean isArmed() {
    return armed;
  }

  /** A session never checked: the endpoint's own, which refreshes the views. */
  public static void exempt(SparkSession s) {
    exempt.add(s);
  }

  /**
   * Fix the settings that decide what a session can reach at {@code baseline}'s values: SQL on
   * files, the default catalog and every catalog plugin. A client can change settings without
   * a SET statement, in the settings it connects with (JDBC URL parameters, {@code
   * set:hiveconf:} keys), which the Thrift server applies directly; a checked session whose
   * value of one of these differs is refused. (Not every setting: Spark and Delta change
   * harmless ones on their own, such as Parquet field-id reads.)
   */
  public static void freeze(SparkSession baseline) {
    Map<String, String> all =
        CollectionConverters.asJava(baseline.sessionState().conf().getAllConfs());
    pinned.clear();
    for (Map.Entry<String, String> e : all.entrySet()) {
      if (isPinned(e.getKey())) pinned.put(e.getKey(), e.getValue());
    }
    pinned.put(RUN_SQL_ON_FILES, baseline.sessionState().conf().getConfString(RUN_SQL_ON_FILES));
    frozen = true;
  }

  private static volatile boolean frozen = false;
  static final String RUN_SQL_ON_FILES = "spark.sql.runSQLOnFiles";

  static boolean isPinned(String key) {
    return key.equals(RUN_SQL_ON_FILES)
        || key.equals("spark.sql.defaultCatalog")
        || key.startsWith("spark.sql.catalog.");
  }

  static void checkSettings(SparkSession session) {
    SQLConf conf = session.sessionState().conf();
    for (Map.Entry<String, String> e : pinned.entrySet()) {
      String now = conf.getConfString(e.getKey(), "<unset>");
      if (!now.equals(e.getValue())) throw changed(e.getKey(), now);
    }
    for (String key : CollectionConverters.asJava(conf.getAllConfs()).keySet()) {
      if (isPinned(key) && !pinned.containsKey(key)) throw changed(key, conf.getConfString(key));
    }
  }

  static RuntimeException changed(String key, String value) {
    return deny("session setting " + key + " was changed (" + value + "); reconnect without it");
  }

  /** A database no checked statement may read from directly (only through views). */
  public static void hide(String database) {
    hidden.add(database.toLowerCase());
  }

  /** Commands a read-only client may run (simple class names of analyzed plan nodes). */
  static final Set<String> ALLOWED_COMMANDS =
      new HashSet<>(
          Arrays.asList(
              "SetNamespaceCommand",
              "SetCatalogAndNamespace",
              "ShowTablesCommand",
              "ShowTables",
              "ShowTablesExtended",
              "ShowViews",
              "ShowViewsCommand",
              "ShowNamespaces",
              "ShowNamespacesCommand",
              "ShowCatalogs",
              "ShowCatalogsCommand",
              "ShowCurrentNamespaceCommand",
              "ShowCurrentNamespace",
              "DescribeTableCommand",
              "DescribeRelation",
              "DescribeColumnCommand",
              "DescribeColumn",
              "DescribeNamespace",
              "DescribeDatabaseCommand",
              "ShowColumnsCommand",
              "ShowColumns",
              "ShowFunctions",
              "ShowFunctionsCommand",
              "DescribeFunctionCommand",
              "DescribeFunction"));

  static final Set<String> FORBIDDEN_PLAN_NODES =
      new HashSet<>(
          Arrays.asList(
              "InsertIntoStatement", "InsertIntoDir", "CreateFunction", "CreateTable",
              "CreateView"));

  // Statements whose EXTENDED form prints a view's definition.
  static final Set<String> DESCRIBE_TABLE =
      new HashSet<>(
          Arrays.asList(
              "DescribeTableCommand", "DescribeRelation", "ShowTablesCommand",
              "ShowTablesExtended", "ShowTableExtended"));

  static boolean isExtended(LogicalPlan p) {
    try {
      return (Boolean) p.getClass().getMethod("isExtended").invoke(p);
    } catch (ReflectiveOperationException e) {
      return true; // unknown shape: refuse rather than show a view's text
    }
  }

  static final Set<String> FORBIDDEN_EXPRESSIONS =
      new HashSet<>(Arrays.asList("CallMethodViaReflection", "TryReflect"));

  static RuntimeException deny(String why) {
    return new SecurityException("[cdp sql guard] statement refused: " + why);
  }

  static void checkExpr(Expression e) {
    String n = e.getClass().getSimpleName();
    if (FORBIDDEN_EXPRESSIONS.contains(n)) {
      throw deny("function " + e.prettyName() + "() is not allowed");
    }
    if (e instanceof SubqueryExpression) checkPlan(((SubqueryExpression) e).plan());
    scala.collection.Iterator<Expression> it = e.children().iterator();
    while (it.hasNext()) checkExpr(it.next());
  }

  static void checkDatabase(scala.Option<CatalogTable> table) {
    if (table.isDefined()) {
      scala.Option<String> db = table.get().identifier().database();
      if (db.isDefined() && hidden.contains(db.get().toLowerCase())) {
        throw deny("table " + table.get().identifier().unquotedString() + " is not published");
      }
    }
  }

  static void checkPlan(LogicalPlan p) {
    String n = p.getClass().getSimpleName();
    if (p instanceof View) {
      // A view's body was written by the endpoint's set-up (clients cannot CREATE VIEW).
      return;
    }
    if (p instanceof Command && !ALLOWED_COMMANDS.contains(n)) {
      throw deny("command " + n + " is not allowed (read-only endpoint)");
    }
    if (FORBIDDEN_PLAN_NODES.contains(n)) throw deny(n + " is not allowed (read-only endpoint)");
    if (DESCRIBE_TABLE.contains(n) && isExtended(p)) {
      // A masked view's definition holds the masking key: with it, anyone could hash a
      // guessed email and find its profile. Plain DESCRIBE shows the columns and comments.
      throw deny(
          "DESCRIBE EXTENDED/FORMATTED and SHOW TABLE EXTENDED are not allowed; use DESCRIBE"
              + " TABLE and SHOW TABLES");
    }
    if (p instanceof LogicalRelation) {
      LogicalRelation r = (LogicalRelation) p;
      if (r.catalogTable().isEmpty()) {
        throw deny(
            "reading files by path is not allowed ("
                + r.relation().getClass().getSimpleName()
                + "); query a published table by name");
      }
      checkDatabase(r.catalogTable());
    }
    if (p instanceof HiveTableRelation) {
      checkDatabase(scala.Option.apply(((HiveTableRelation) p).tableMeta()));
    }
    if (p instanceof DataSourceV2Relation) {
      DataSourceV2Relation r = (DataSourceV2Relation) p;
      boolean pathLike = r.identifier().isEmpty();
      if (!pathLike) {
        String name = r.identifier().get().name();
        pathLike = name.startsWith("/") || name.contains(":/");
        String[] ns = r.identifier().get().namespace();
        if (ns.length > 0 && hidden.contains(ns[ns.length - 1].toLowerCase())) {
          throw deny("table " + ns[ns.length - 1] + "." + name + " is not published");
        }
      }
      if (pathLike) {
        throw deny(
            "reading files by path is not allowed ("
                + r.table().name()
                + "); query a published table by name");
      }
    }
    scala.collection.Iterator<Expression> ex = p.expressions().iterator();
    while (ex.hasNext()) checkExpr(ex.next());
    scala.collection.Iterator<LogicalPlan> ch = p.children().iterator();
    while (ch.hasNext()) checkPlan(ch.next());
  }

  /**
   * Analyses nested in trusted work: a view body being resolved (Spark 4 runs checkAnalysis on
   * each view body on its own, without the View node around it), and Delta's own reads of its
   * log (a path-based relation, whenever a snapshot is loaded). A client's statement is
   * analyzed from outside these frames, so it is still checked in full.
   */
  static boolean inTrustedAnalysis() {
    return StackWalker.getInstance()
        .walk(
            frames ->
                frames.anyMatch(
                    f -> {
                      String c = f.getClassName();
                      return c.startsWith("org.apache.spark.sql.catalyst.analysis.ViewResolution")
                          || c.startsWith("org.apache.spark.sql.delta.");
                    }));
  }

  static final class Check extends AbstractFunction1<LogicalPlan, BoxedUnit> {
    private final SparkSession session;

    Check(SparkSession s) {
      session = s;
    }

    @Override
    public BoxedUnit apply(LogicalPlan plan) {
      if (!armed || exempt.contains(session) || inTrustedAnalysis()) return BoxedUnit.UNIT;
      if (frozen) checkSettings(session);
      checkPlan(plan);
      return BoxedUnit.UNIT;
    }
  }

  @Override
  public BoxedUnit apply(SparkSessionExtensions ext) {
    ext.injectCheckRule(
        new AbstractFunction1<SparkSession, scala.Function1<LogicalPlan, BoxedUnit>>() {
          @Override
          public scala.Function1<LogicalPlan, BoxedUnit> apply(SparkSession s) {
            return new Check(s);
          }
        });
    return BoxedUnit.UNIT;
  }
}
