<?xml version="1.0" encoding="windows-1251"?>
<rss version="2.0">
<channel>
<title>Интерфакс: Экономика</title>
<link>https://www.interfax.ru/business/</link>
<description>Новости экономики и бизнеса</description>
<language>ru</language>
<lastBuildDate>Fri, 15 Mar 2024 10:47:00 +0300</lastBuildDate>
<item>
<title>Выпуск зерноуборочных комбайнов в РФ в 2023 году вырос на 15%</title>
<link>https://www.interfax.ru/business/955012</link>
<guid>https://www.interfax.ru/business/955012</guid>
<pubDate>Fri, 15 Mar 2024 10:47:00 +0300</pubDate>
<category>Экономика</category>
<description>Москва. 15 марта. INTERFAX.RU - Российские производители сельхозтехники в 2023 году увеличили выпуск зерноуборочных комбайнов на 15%, до 6,8 тыс. единиц, сообщила пресс-служба Минпромторга.</description>
</item>
<item>
<title>Поставки российских удобрений во Францию в 2023 году выросли на 20%</title>
<link>https://www.interfax.ru/business/954876</link>
<guid>https://www.interfax.ru/business/954876</guid>
<pubDate>Thu, 14 Mar 2024 16:02:00 +0300</pubDate>
<category>Экономика</category>
<description>Москва. 14 марта. INTERFAX.RU - Поставки российских минеральных удобрений во Францию в 2023 году выросли на 20% в натуральном выражении, до 1,3 млн тонн, сообщила Российская ассоциация производителей удобрений (РАПУ).</description>
</item>
<item>
<title>Опрос: большинство французских компаний не планируют уходить из России</title>
<link>https://www.interfax.ru/business/954321</link>
<guid>https://www.interfax.ru/business/954321</guid>
<pubDate>Thu, 14 Mar 2024 12:35:00 +0300</pubDate>
<category>Экономика</category>
<description>Москва. 14 марта. INTERFAX.RU - Около 80% французских компаний, работающих в России, не планируют уходить с российского рынка в 2024 году, следует из результатов опроса, проведенного Франко-российской торгово-промышленной палатой (CCI France Russie).</description>
</item>
</channel>
</rss>
